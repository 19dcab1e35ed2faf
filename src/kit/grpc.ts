// gRPC plumbing shared by archlab's gRPC servers (the calculator services), the monitor's gRPC probe
// and the gateway's gRPC client: the .proto files of proto/ loaded at run time (no generated code),
// the channel settings every client uses, and one unary call with a deadline whose failure is
// classified the way the gateway's HTTP proxy classifies its own (refused / reset / timeout / status).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ChannelOptions,
  type Client,
  type ClientUnaryCall,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/**
 * Messages in JS: field names as written in the .proto, enums as their names ('SERVING'), 64-bit
 * integers as strings, and defaults filled in — proto3 does not send a field equal to its default,
 * so without `defaults` an operand of 0 would arrive as undefined.
 */
const LOADER_OPTIONS = { keepCase: true, enums: String, longs: String, defaults: true, oneofs: true };

/** Trailing metadata key in which archlab servers name their error code (docs/errors.md). */
export const ERROR_CODE_KEY = 'archlab-error-code';

const packages = new Map<string, GrpcObject>();

/** The client constructor of `qualifiedName` (e.g. `calculator.Calculator`) from proto/<file>; `.service` is its definition. */
export function loadService(file: string, qualifiedName: string): ServiceClientConstructor {
  let root = packages.get(file);
  if (root === undefined) {
    root = loadPackageDefinition(loadSync(path.join(PROTO_DIR, file), { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] }));
    packages.set(file, root);
  }
  let node: unknown = root;
  for (const part of qualifiedName.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== 'function' || !('service' in node))
    throw new Error(`${file} defines no service ${qualifiedName}`);
  return node as ServiceClientConstructor;
}

/**
 * Instance URLs are `http://host:port` for gRPC services too (placement.json, the monitor, the
 * gateway treat every instance alike); a channel wants the bare `host:port`.
 */
export function grpcTarget(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port}`;
}

/** `host:port` for a server to bind, IPv6 literals bracketed. */
export function bindAddress(host: string, port: number): string {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

export const CHANNEL_OPTIONS: ChannelOptions = {
  // grpc-js waits 1 s, growing to 120 s, between reconnect attempts and meanwhile fails calls at once
  // (UNAVAILABLE, "No connection established"): a restarted instance would stay unreachable to a
  // long-lived channel for up to two minutes. Instances restart in well under a second here.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

export function createClient(Service: ServiceClientConstructor, url: string): Client {
  return new Service(grpcTarget(url), credentials.createInsecure(), CHANNEL_OPTIONS);
}

/**
 * refused: the call never reached a server (no connection could be made), safe to send anywhere;
 * reset: the connection broke while the call was out, so the server may have acted on it;
 * timeout: no answer before the deadline; status: the server answered with a non-OK status.
 */
export type GrpcFailureKind = 'refused' | 'reset' | 'timeout' | 'status';

export type UnaryOutcome =
  | { ok: true; response: Record<string, unknown> }
  | {
      ok: false;
      failure: GrpcFailureKind;
      /** The gRPC status code (`status` from @grpc/grpc-js: 3 INVALID_ARGUMENT, 14 UNAVAILABLE…). */
      code?: number;
      details?: string;
      /** The archlab error code an archlab server put in its trailers, when it did. */
      errorCode?: string;
    };

type UnaryCallback = (error: ServiceError | null, response?: Record<string, unknown>) => void;
type UnaryMethod = (
  request: Record<string, unknown>,
  metadata: Metadata,
  options: { deadline: number },
  callback: UnaryCallback,
) => ClientUnaryCall;

export interface UnaryCallOptions {
  /** Absolute deadline (epoch ms): the call ends with DEADLINE_EXCEEDED then, whatever the server does. */
  deadline: number;
  /** Sent as request metadata (traceparent, x-request-id). */
  headers?: Record<string, string>;
  /** Told the call once it is out, so an owner can cancel it (close()). */
  onCall?: (call: ClientUnaryCall) => void;
}

/** Calls `method` on `client`; never rejects: every failure is an outcome. */
export function callUnary(
  client: Client,
  method: string,
  request: Record<string, unknown>,
  options: UnaryCallOptions,
): Promise<UnaryOutcome> {
  // Only the service's own rpcs: a Client also has close(), getChannel()… under plain names.
  const definition = (client.constructor as Partial<ServiceClientConstructor>).service;
  const fn = (client as unknown as Record<string, UnaryMethod | undefined>)[method];
  if (definition === undefined || !Object.hasOwn(definition, method) || typeof fn !== 'function') {
    return Promise.resolve({
      ok: false,
      failure: 'status',
      code: status.UNIMPLEMENTED,
      details: `the service has no method ${method}`,
    });
  }
  return new Promise((resolve) => {
    try {
      const metadata = new Metadata();
      for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
      const call = fn.call(client, request, metadata, { deadline: options.deadline }, (error, response) => {
        resolve(error === null ? { ok: true, response: response ?? {} } : classify(error));
      });
      options.onCall?.(call);
    } catch (error) {
      // Thrown before anything is sent: a closed channel, metadata grpc-js will not send.
      resolve({ ok: false, failure: 'refused', code: status.UNAVAILABLE, details: String(error) });
    }
  });
}

/**
 * Locally made errors (no connection, dropped connection, deadline) come with empty metadata; an
 * error the server sent carries its trailers (archlab servers always add ERROR_CODE_KEY), which is
 * how an UNAVAILABLE from the server ("my dependency is down") is told from one from the channel.
 */
export function classify(error: ServiceError): UnaryOutcome & { ok: false } {
  const { code, details } = error;
  const errorCode = error.metadata?.get(ERROR_CODE_KEY)[0];
  const fromServer = typeof errorCode === 'string' || Object.keys(error.metadata?.getMap() ?? {}).length > 0;
  const base = { code, details, ...(typeof errorCode === 'string' ? { errorCode } : {}) };
  if (code === status.DEADLINE_EXCEEDED) return { ok: false, failure: 'timeout', ...base };
  if (code === status.UNAVAILABLE && !fromServer) {
    const refused = /No connection established|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH/.test(details);
    return { ok: false, failure: refused ? 'refused' : 'reset', ...base };
  }
  // A stream reset without a gRPC status (the server died mid-call) or a call cancelled by close().
  if ((code === status.INTERNAL && details.startsWith('Received RST_STREAM')) || code === status.CANCELLED)
    return { ok: false, failure: 'reset', ...base };
  return { ok: false, failure: 'status', ...base };
}

/** The HTTP status a gRPC status code stands for (the usual gRPC → HTTP transcoding table). */
export function httpStatusOf(code: number): number {
  switch (code) {
    case status.OK:
      return 200;
    case status.INVALID_ARGUMENT:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
      return 400;
    case status.UNAUTHENTICATED:
      return 401;
    case status.PERMISSION_DENIED:
      return 403;
    case status.NOT_FOUND:
      return 404;
    case status.ALREADY_EXISTS:
    case status.ABORTED:
      return 409;
    case status.RESOURCE_EXHAUSTED:
      return 429;
    case status.CANCELLED:
      return 499;
    case status.UNIMPLEMENTED:
      return 501;
    case status.UNAVAILABLE:
      return 503;
    case status.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}
