// The forwarding core: one undici Pool (keep-alive) per upstream instance; bodies stream both ways;
// X-Forwarded-*, x-request-id and a child traceparent are added; failures become JSON errors.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { errorBody, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { continueTrace, traceHeaders } from '../kit/trace.ts';
import { GatewayErrors } from './errors.ts';

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
}

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

/** Forwards req to origin; resolves to the upstream status (or the error status it answered). */
export async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  upstreams: Upstreams,
  options: ForwardOptions,
  log: Logger,
): Promise<number> {
  const trace = continueTrace(req.headers);
  res.setHeader('x-request-id', trace.requestId);

  const declaredLength = Number(req.headers['content-length'] ?? 0);
  if (declaredLength > options.bodyLimitBytes) {
    req.resume();
    sendJsonError(res, 413, KitErrors.PAYLOAD_TOO_LARGE, `request body over ${options.bodyLimitBytes} bytes`);
    return 413;
  }

  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const clientIp = req.socket.remoteAddress ?? '';
  const priorFor = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = priorFor ? `${priorFor}, ${clientIp}` : clientIp;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = 'http';
  Object.assign(headers, traceHeaders(trace));

  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  res.once('close', () => {
    if (!res.writableFinished) abort.abort(); // client went away: stop the upstream work too
  });

  try {
    const upstream = await upstreams.pool(options.origin).request({
      path: options.path,
      method: req.method as 'GET',
      headers,
      body: hasBody ? (declaredLength > 0 ? req : req.pipe(limitBytes(options.bodyLimitBytes))) : null,
      signal: abort.signal,
    });
    const responseHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
    }
    responseHeaders['x-request-id'] = trace.requestId;
    const length = Number(upstream.headers['content-length'] ?? Number.NaN);
    if (length <= SMALL_BODY_BYTES) {
      // Small bodies (most API answers) go out in one write with the headers: measured about 2× the
      // throughput of piping them (.scratch bench, bare undici proxy 4.5k → 10.6k req/s).
      const body = Buffer.from(await upstream.body.arrayBuffer());
      res.writeHead(upstream.statusCode, responseHeaders);
      res.end(body);
    } else {
      res.writeHead(upstream.statusCode, responseHeaders);
      await pipeline(upstream.body, res);
    }
    return upstream.statusCode;
  } catch (error) {
    return answerFailure(res, error, options, log, trace.requestId);
  } finally {
    clearTimeout(timer);
  }
}

function answerFailure(res: ServerResponse, error: unknown, options: ForwardOptions, log: Logger, requestId: string) {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_GATEWAY_BODY_TOO_LARGE') {
    sendJsonError(res, 413, KitErrors.PAYLOAD_TOO_LARGE, `request body over ${options.bodyLimitBytes} bytes`);
    return 413;
  }
  if (res.destroyed) return 499; // the client left; nobody to answer
  const timedOut =
    (error as Error).name === 'AbortError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
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
      if (seen > limit) {
        callback(Object.assign(new Error('request body too large'), { code: 'ERR_GATEWAY_BODY_TOO_LARGE' }));
      } else callback(null, chunk);
    },
  });
}
