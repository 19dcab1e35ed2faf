// createService: the Fastify process every archlab HTTP service is built on. It gives each service
// the same /health, /metrics, error body, request id + traceparent handling, request log line and
// token-protected /_admin routes, so services only add their own routes.
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { AppError, errorBody, isAppError, KitErrors } from './errors.ts';
import { createFaults, type Faults, type FaultValue } from './faults.ts';
import type { Logger } from './logger.ts';
import { createRegistry, httpDurationHistogram, type Registry } from './metrics.ts';
import { nowMs, recordSpan, runInSpan, tracing } from './spans.ts';
import { continueTrace, type TraceContext } from './trace.ts';

declare module 'fastify' {
  interface FastifyRequest {
    trace: TraceContext;
    /** When this hop's span started (epoch ms), or 0 when the request is not traced. */
    spanStartMs: number;
  }
}

export interface Readiness {
  ready: boolean;
  /** Read-model position (last applied stream seq), for services that have one. */
  position?: number | undefined;
}

export interface ServiceOptions {
  service: string;
  instance: string;
  role: string;
  log: Logger;
  host?: string;
  port?: number;
  bodyLimitBytes?: number;
  /** Enables /_admin routes; requests must send `Authorization: Bearer <token>` from loopback. */
  adminToken?: string | undefined;
  faults?: Faults;
  readiness?: () => Readiness;
}

export interface Service {
  app: FastifyInstance;
  registry: Registry;
  faults: Faults;
  log: Logger;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, then closes. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function createService(options: ServiceOptions): Service {
  const { log } = options;
  const startedAt = Date.now();
  const faults = options.faults ?? createFaults(process.env.ARCHLAB_FAULTS);
  const registry = createRegistry({ service: options.service, instance: options.instance });
  const durations = httpDurationHistogram(registry);
  const readiness: () => Readiness = options.readiness ?? (() => ({ ready: true }));

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // One line per response (onResponse below) instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    return503OnClosing: true,
    genReqId: (req) => {
      const id = req.headers['x-request-id'];
      return typeof id === 'string' && REQUEST_ID.test(id) ? id : randomUUID();
    },
  });

  // While closing, answers tell keep-alive clients to hang up, so no idle connection holds the close.
  let closing = false;
  app.decorateRequest('trace', null as unknown as TraceContext);
  app.decorateRequest('spanStartMs', 0);
  app.addHook('onRequest', async (request, reply) => {
    request.trace = continueTrace({ ...request.headers, 'x-request-id': request.id });
    if (request.trace.sampled && tracing() && !isOwnRoute(request.url)) request.spanStartMs = nowMs();
    reply.header('x-request-id', request.id);
    // Which instance answered: what fail-over and fail-back look like from the client's side.
    reply.header('x-archlab-instance', options.instance);
    await injectFaults(request.url, faults);
  });
  // The handler runs as the request's span, so its store commits and bus sends become child spans.
  // (Set before the handler, not in onRequest: body parsing runs on the socket's events and would
  // lose the async context.)
  app.addHook('preHandler', (request, _reply, done) => {
    if (request.spanStartMs === 0) return done();
    runInSpan(request.trace, done);
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    durations.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (request.spanStartMs !== 0) recordServerSpan(request, route, reply.statusCode, options.instance);
    if (route === '/health' || route === '/metrics') return;
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        traceId: request.trace?.traceId,
      },
      'request',
    );
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(KitErrors.NOT_FOUND, `no route for ${request.method} ${request.url.split('?')[0]}`));
  });
  app.setErrorHandler((error: FastifyError | AppError, request, reply) => sendError(error, request, reply));

  app.get('/health', async (_request, reply) => {
    const { ready, position } = readiness();
    reply.code(ready ? 200 : 503);
    return {
      status: ready ? 'ready' : 'syncing',
      ready,
      instance: options.instance,
      service: options.service,
      role: options.role,
      pid: process.pid,
      uptimeMs: Date.now() - startedAt,
      position: position ?? null,
    };
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  registerAdmin(app, options.adminToken, faults);

  return {
    app,
    registry,
    faults,
    log,
    async listen() {
      return app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    },
    close: () => {
      closing = true;
      return app.close();
    },
  };
}

function sendError(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  if (isAppError(error)) {
    if (error.status >= 500) request.log[error.retryable ? 'warn' : 'error']({ err: error }, error.message);
    return reply.code(error.status).send(errorBody(error.code, error.message, error.details));
  }
  if (error.validation) {
    const message = error.validation
      .map((v) => `${(v.instancePath || '/').replace(/^\//, '') || 'body'} ${v.message}`)
      .join('; ');
    return reply.code(400).send(errorBody(KitErrors.VALIDATION_FAILED, message));
  }
  const status = error.statusCode ?? 500;
  if (status >= 500) {
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(KitErrors.INTERNAL, 'internal error'));
  }
  return reply.code(status).send(errorBody(fastifyCode(error), error.message));
}

/** The kit's own routes: never faulted, never traced. */
const isOwnRoute = (url: string) =>
  url.startsWith('/health') || url.startsWith('/metrics') || url.startsWith('/_admin');

function recordServerSpan(request: FastifyRequest, route: string, status: number, instance: string) {
  recordSpan({
    traceId: request.trace.traceId,
    spanId: request.trace.spanId,
    parentSpanId: request.trace.parentSpanId,
    name: `${request.method} ${route}`,
    kind: 'SERVER',
    startMs: request.spanStartMs,
    endMs: nowMs(),
    attributes: {
      'http.request.method': request.method,
      'http.route': route,
      'http.response.status_code': status,
      'archlab.instance': instance,
    },
    error: status >= 500 ? `HTTP ${status}` : undefined,
  });
}

/** Fastify's own 4xx errors (body parsing, limits) translated to our stable codes. */
function fastifyCode(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return KitErrors.PAYLOAD_TOO_LARGE;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return KitErrors.UNSUPPORTED_MEDIA_TYPE;
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return KitErrors.INVALID_JSON;
    default:
      return error instanceof SyntaxError ? KitErrors.INVALID_JSON : KitErrors.BAD_REQUEST;
  }
}

/**
 * Request-level faults every service has (off unless switched on, e.g. by the lab):
 * `http.delay-ms` adds that much latency to every answer, `http.error-rate` (0..1) answers that
 * share of requests 500 `fault_injected`. /health, /metrics and /_admin are never affected.
 */
async function injectFaults(url: string, faults: Faults) {
  if (isOwnRoute(url)) return;
  const delayMs = Number(faults.get('http.delay-ms') ?? 0);
  if (delayMs > 0) await sleep(Math.min(delayMs, 60_000));
  const errorRate = Number(faults.get('http.error-rate') ?? 0);
  if (errorRate > 0 && Math.random() < errorRate) {
    throw new AppError(500, KitErrors.FAULT_INJECTED, 'fault injected: http.error-rate', { retryable: true });
  }
}

function registerAdmin(app: FastifyInstance, token: string | undefined, faults: Faults) {
  if (!token) return;
  const expected = Buffer.from(`Bearer ${token}`);
  app.register(
    async (admin) => {
      admin.addHook('onRequest', async (request) => {
        if (!LOOPBACK.has(request.socket.remoteAddress ?? '')) {
          throw new AppError(403, KitErrors.UNAUTHORIZED, 'admin routes answer on loopback only');
        }
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          throw new AppError(401, KitErrors.UNAUTHORIZED, 'admin token missing or wrong');
        }
      });
      admin.get('/faults', async () => faults.all());
      admin.put<{ Params: { name: string }; Body: { value?: FaultValue } }>(
        '/faults/:name',
        {
          schema: {
            params: { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z][a-zA-Z0-9.-]{0,63}$' } } },
            body: {
              type: 'object',
              properties: { value: { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] } },
              additionalProperties: false,
            },
          },
        },
        async (request) => {
          faults.set(request.params.name, request.body?.value ?? true);
          request.log.warn({ fault: request.params.name, value: request.body?.value ?? true }, 'fault set');
          return faults.all();
        },
      );
      admin.delete<{ Params: { name: string } }>('/faults/:name', async (request) => {
        faults.clear(request.params.name);
        request.log.warn({ fault: request.params.name }, 'fault cleared');
        return faults.all();
      });
    },
    { prefix: '/_admin' },
  );
}
