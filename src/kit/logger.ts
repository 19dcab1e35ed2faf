import pino, { type Logger } from 'pino';

export type { Logger };

// Anything that could carry a password or a token is censored wherever it appears in a log object.
const REDACT = [
  'password',
  'clave',
  '*.password',
  '*.clave',
  '*.*.password',
  'token',
  '*.token',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-archlab-token"]',
  '*.headers["x-archlab-token"]',
];

export interface LoggerOptions {
  /** Bound to every line: instance, service, role, component… */
  bindings?: Record<string, string>;
  level?: string;
  destination?: pino.DestinationStream;
}

/** JSON lines on stdout (the supervisor routes each process's stdout to its log file). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.ARCHLAB_LOG_LEVEL ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
