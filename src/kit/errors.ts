// The one error type every component throws. `code` is stable and documented in docs/errors.md;
// callers branch on `code`, never on `message`.
export type ErrorDetails = Record<string, unknown>;

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryable: boolean;
  readonly details: ErrorDetails | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { retryable?: boolean; details?: ErrorDetails; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.retryable = options.retryable ?? status >= 500;
    this.details = options.details;
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;

/** The uniform error body: `{ "error": { "code", "message" } }`, plus details when there are any. */
export function errorBody(code: string, message: string, details?: ErrorDetails) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

export const KitErrors = {
  NOT_FOUND: 'not_found',
  BAD_REQUEST: 'bad_request',
  INVALID_JSON: 'invalid_json',
  VALIDATION_FAILED: 'validation_failed',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  UNAUTHORIZED: 'unauthorized',
  INTERNAL: 'internal',
  UNAVAILABLE: 'unavailable',
  CONFIG_INVALID: 'config_invalid',
  /** A request failed on purpose: the http.error-rate fault is on. */
  FAULT_INJECTED: 'fault_injected',
  /** An admin call names an instance the system does not have. */
  UNKNOWN_INSTANCE: 'unknown_instance',
} as const;
