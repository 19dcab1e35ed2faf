// The forwarding core: one undici Pool (keep-alive) per upstream instance; bodies stream both ways;
// X-Forwarded-*, x-request-id and a child traceparent are added; failures become JSON errors.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { errorBody, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { formatTraceparent, type TraceContext, traceHeaders } from '../kit/trace.ts';
import { GatewayErrors } from './errors.ts';

// Set by the gateway itself on the way to the upstream.
const REPLACED = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'traceparent', 'x-request-id']);

// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus host (the upstream's own).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

/** Responses up to this size are buffered and sent in one write; larger ones stream. */
const SMALL_BODY_BYTES = 64 * 1024;

export interface ForwardOptions {
  origin: string;
  path: string;
  timeoutMs: number;
  bodyLimitBytes: number;
  /**
   * Failures of these kinds are handed back as a Failure instead of answered (nothing is sent to the
   * client for them), so the caller can try elsewhere or store the request.
   */
  handBack?: ReadonlySet<FailureKind>;
  /** The request body, already read (replayable); without it, the body streams from req. */
  body?: Buffer | undefined;
}

/**
 * refused: the request never reached the instance (safe to try anywhere); reset: the connection broke
 * after the request may have arrived — it may be what killed the instance (a poison suspect);
 * timeout: no answer in time; status: a 5xx answer.
 */
export type FailureKind = 'refused' | 'reset' | 'timeout' | 'status';

/** An attempt that failed and was not answered; `status` is the upstream's for kind 'status'. */
export interface Failure {
  failure: FailureKind;
  status?: number;
  error?: unknown;
  /**
   * The instance answered that it cannot serve right now because something it depends on is down
   * (a gRPC UNAVAILABLE carrying an archlab error code): not the instance's own fault, so it is not
   * ejected, and a replay waits and tries again without spending an attempt.
   */
  unavailable?: boolean;
}

export type Outcome = { status: number } | Failure;

export interface Upstreams {
  pool(origin: string): Pool;
  close(): Promise<void>;
}

export function createUpstreams(): Upstreams {
  const pools = new Map<string, Pool>();
  return {
    pool(origin) {
      let pool = pools.get(origin);
      if (pool === undefined) {
        pool = new Pool(origin, { connections: 64, keepAliveTimeout: 30_000, pipelining: 1 });
        pools.set(origin, pool);
      }
      return pool;
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
      pools.clear();
    },
  };
}

export function sendJsonError(res: ServerResponse, status: number, code: string, message: string) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(code, message));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The headers an upstream receives: the client's end-to-end ones, X-Forwarded-*, request id, traceparent. */
export function upstreamHeaders(req: IncomingMessage, trace: TraceContext): Record<string, string | string[]> {
  const headers = endToEnd(req.headers);
  const clientIp = req.socket.remoteAddress ?? '';
  const priorFor = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${clientIp}` : clientIp;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = 'http';
  Object.assign(headers, traceHeaders(trace));
  return headers;
}

function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
  }
  return kept;
}

/** Reads a whole request body of at most `limit` bytes; rejects with ERR_GATEWAY_BODY_TOO_LARGE past it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

export function isTooLarge(error: unknown): boolean {
  return (error as { code?: string }).code === 'ERR_GATEWAY_BODY_TOO_LARGE';
}

function tooLarge(): Error {
  return Object.assign(new Error('request body too large'), { code: 'ERR_GATEWAY_BODY_TOO_LARGE' });
}

export interface StoredAnswer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** One attempt without a client connection (a store-and-forward replay): the whole answer, or a Failure. */
export async function send(
  upstreams: Upstreams,
  origin: string,
  request: { method: string; path: string; headers: Record<string, string | string[]>; body: Buffer | null },
  timeoutMs: number,
): Promise<StoredAnswer | Failure> {
  try {
    const upstream = await upstreams.pool(origin).request({
      path: request.path,
      method: request.method as 'GET',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = Buffer.from(await upstream.body.arrayBuffer());
    return { status: upstream.statusCode, headers: endToEnd(upstream.headers), body };
  } catch (error) {
    return { failure: failureKind(error) ?? 'reset', error };
  }
}

/**
 * One attempt: forwards req to origin. Resolves to the status answered (upstream's or the gateway's
 * own error), or to a Failure of a kind in `handBack` that nothing was sent to the client for.
 * Built on undici's dispatch handler rather than request(): no response stream, promise chain or
 * header object copies per request (measured: see bench/gateway.ts).
 */
export function forward(
  req: IncomingMessage,
  res: ServerResponse,
  upstreams: Upstreams,
  options: ForwardOptions,
  log: Logger,
  trace: TraceContext,
): Promise<Outcome> {
  const declaredLength = Number(req.headers['content-length'] ?? 0);
  if (declaredLength > options.bodyLimitBytes) {
    req.resume();
    res.setHeader('x-request-id', trace.requestId);
    sendJsonError(res, 413, KitErrors.PAYLOAD_TOO_LARGE, `request body over ${options.bodyLimitBytes} bytes`);
    return Promise.resolve({ status: 413 });
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const body =
    options.body ?? (hasBody ? (declaredLength > 0 ? req : req.pipe(limitBytes(options.bodyLimitBytes))) : null);
  return new Promise((resolve) => {
    upstreams.pool(options.origin).dispatch(
      {
        path: options.path,
        method: req.method as 'GET',
        headers: upstreamHeaderList(req, trace, options.body?.length),
        body,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      },
      new ForwardHandler(res, options, log, trace.requestId, resolve),
    );
  });
}

/** Passes one upstream answer to the client: small bodies in one write with the headers, large ones streamed. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #options: ForwardOptions;
  readonly #log: Logger;
  readonly #requestId: string;
  readonly #resolve: (outcome: Outcome) => void;
  #mode: 'buffer' | 'stream' | 'discard' = 'buffer';
  #status = 0;
  #headers: string[] = [];
  #chunks: Buffer[] = [];
  #settled = false;

  constructor(
    res: ServerResponse,
    options: ForwardOptions,
    log: Logger,
    requestId: string,
    resolve: (outcome: Outcome) => void,
  ) {
    this.#res = res;
    this.#options = options;
    this.#log = log;
    this.#requestId = requestId;
    this.#resolve = resolve;
  }

  onRequestStart(controller: Dispatcher.DispatchController) {
    const res = this.#res;
    if (res.destroyed) return controller.abort(clientGone());
    res.once('close', () => {
      if (!res.writableFinished && !this.#settled) controller.abort(clientGone()); // stop the upstream work too
    });
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders) {
    this.#status = status;
    if (status >= 500 && this.#options.handBack?.has('status')) {
      this.#mode = 'discard';
      return;
    }
    const list = this.#headers;
    for (const name in headers) {
      if (HOP_BY_HOP.has(name) || name === 'x-request-id') continue;
      const value = headers[name];
      if (typeof value === 'string') list.push(name, value);
      else if (value !== undefined) for (const one of value) list.push(name, one);
    }
    list.push('x-request-id', this.#requestId);
    if (!(Number(headers['content-length'] ?? Number.NaN) <= SMALL_BODY_BYTES)) {
      this.#mode = 'stream';
      this.#res.writeHead(status, list);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    if (this.#mode === 'buffer') this.#chunks.push(chunk);
    else if (this.#mode === 'stream' && !this.#res.write(chunk)) {
      controller.pause();
      this.#res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd() {
    this.#settled = true;
    if (this.#mode === 'discard') return this.#resolve({ failure: 'status', status: this.#status });
    if (this.#mode === 'buffer') {
      const chunks = this.#chunks;
      this.#res.writeHead(this.#status, this.#headers);
      this.#res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    } else this.#res.end();
    this.#resolve({ status: this.#status });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error) {
    this.#settled = true;
    const res = this.#res;
    const kind = failureKind(error);
    if (kind !== undefined && this.#options.handBack?.has(kind) && !res.headersSent && !res.destroyed) {
      return this.#resolve({ failure: kind, error });
    }
    if (!res.headersSent) res.setHeader('x-request-id', this.#requestId);
    this.#resolve({ status: answerFailure(res, error, this.#options, this.#log, this.#requestId) });
  }
}

function clientGone(): Error {
  return Object.assign(new Error('the client closed the connection'), { code: 'ERR_GATEWAY_CLIENT_GONE' });
}

/**
 * The upstream request's headers as a flat list: the client's end-to-end ones, X-Forwarded-*, the
 * request id and a child traceparent (the client's own values of those are replaced).
 */
function upstreamHeaderList(req: IncomingMessage, trace: TraceContext, bodyLength: number | undefined): string[] {
  const list: string[] = [];
  const headers = req.headers;
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || REPLACED.has(name)) continue;
    if (name === 'content-length' && bodyLength !== undefined) continue;
    const value = headers[name];
    if (typeof value === 'string') list.push(name, value);
    else if (value !== undefined) for (const one of value) list.push(name, one);
  }
  const clientIp = req.socket.remoteAddress ?? '';
  const priorFor = headers['x-forwarded-for'];
  list.push(
    'x-forwarded-for',
    priorFor ? `${priorFor}, ${clientIp}` : clientIp,
    'x-forwarded-host',
    headers.host ?? '',
    'x-forwarded-proto',
    'http',
    'traceparent',
    formatTraceparent(trace),
    'x-request-id',
    trace.requestId,
  );
  if (bodyLength !== undefined) list.push('content-length', String(bodyLength));
  return list;
}

/** Failures worth another instance: the upstream was unreachable, broke the connection or was too slow. */
function failureKind(error: unknown): FailureKind | undefined {
  const code = (error as { code?: string }).code;
  if (isTooLarge(error)) return undefined;
  if (isTimeout(error)) return 'timeout';
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'refused' : 'reset';
}

function isTimeout(error: unknown): boolean {
  const { name, code } = error as { name?: string; code?: string };
  return (
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  );
}

/**
 * Answers a failure that no other instance will retry, saying why: it was the last instance that
 * could take the request, the retry budget refused another try, or the request is a poison suspect
 * (a second instance dropped the connection after it was sent).
 */
export function answerUnretried(
  res: ServerResponse,
  failure: Failure,
  service: string,
  why: 'last' | 'budget' | 'poison' = 'last',
) {
  const because =
    why === 'budget'
      ? '; no other instance was tried: the retry budget is spent'
      : why === 'poison'
        ? ' as well (the request may be what crashes instances, so it was not replayed further)'
        : '';
  if (failure.failure === 'timeout') {
    sendJsonError(res, 504, GatewayErrors.UPSTREAM_TIMEOUT, `${service} did not answer in time${because}`);
    return 504;
  }
  const what =
    failure.failure === 'status'
      ? `answered ${failure.status}`
      : failure.failure === 'reset'
        ? 'dropped the connection'
        : 'was unreachable';
  sendJsonError(res, 502, GatewayErrors.UPSTREAM_UNREACHABLE, `${service}: the instance tried last ${what}${because}`);
  return 502;
}

function answerFailure(res: ServerResponse, error: unknown, options: ForwardOptions, log: Logger, requestId: string) {
  const code = (error as { code?: string }).code;
  if (isTooLarge(error)) {
    sendJsonError(res, 413, KitErrors.PAYLOAD_TOO_LARGE, `request body over ${options.bodyLimitBytes} bytes`);
    return 413;
  }
  if (res.destroyed) return 499; // the client left; nobody to answer
  const timedOut = isTimeout(error);
  log.warn({ err: error, origin: options.origin, path: options.path, requestId }, 'upstream request failed');
  if (timedOut) {
    sendJsonError(res, 504, GatewayErrors.UPSTREAM_TIMEOUT, `upstream did not answer within ${options.timeoutMs} ms`);
    return 504;
  }
  sendJsonError(res, 502, GatewayErrors.UPSTREAM_UNREACHABLE, `upstream ${options.origin} failed: ${code ?? 'error'}`);
  return 502;
}

/** Caps a chunked request body: the gateway never forwards more than the limit. */
function limitBytes(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(tooLarge());
      else callback(null, chunk);
    },
  });
}
