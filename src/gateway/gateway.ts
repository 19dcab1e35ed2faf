// The gateway process's HTTP server: its own /health, /metrics and /pending_results, then the route
// table. Each service's instances form a pool (pool.ts) with the balancer its topology names; member
// states come from passive outlier detection and the monitor's feed (admin port, admin.ts). Requests
// that are safe to repeat are retried on another instance within the route's deadline and the
// service's retry budget; routes with storeAndForward journal what no instance can take
// (store-and-forward.ts) and answer 202 with a ticket.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bus } from '../bus/bus.ts';
import { sendJson } from '../kit/admin-http.ts';
import { errorBody, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { createRegistry } from '../kit/metrics.ts';
import { nowMs, tracing } from '../kit/spans.ts';
import { childOf, continueTrace, type TraceContext, traceHeaders } from '../kit/trace.ts';
import { grpcServing } from '../monitor/probes/grpc.ts';
import type { RouteSpec, Topology } from '../topology/types.ts';
import { type AdminServer, createAdminServer } from './admin.ts';
import { GatewayErrors } from './errors.ts';
import { createGrpcUpstreams } from './grpc-client.ts';
import { createGatewayMetrics } from './metrics.ts';
import { feedPoolsFromMonitor } from './monitor-feed.ts';
import { createRetryBudget, type RetryBudget } from './policies/retry-budget.ts';
import { createPools, httpHealthy, OUTLIER_DEFAULTS, type OutlierOptions } from './pool.ts';
import {
  answerUnretried,
  createUpstreams,
  type Failure,
  type FailureKind,
  forward,
  isTooLarge,
  type Outcome,
  readBody,
  type StoredAnswer,
  sendJsonError,
  upstreamHeaders,
} from './proxy.ts';
import { createRouter } from './routes.ts';
import { recordAttemptSpan, recordGatewaySpan } from './spans.ts';
import {
  type Journal,
  openJournal,
  type ReplayOptions,
  type StoredCall,
  type TicketState,
} from './store-and-forward.ts';

/** gRPC status INVALID_ARGUMENT: the operands were refused, a client error rather than a failure. */
const GRPC_INVALID_ARGUMENT = 3;
/** gRPC status UNAVAILABLE: with an archlab error code, the instance is up and a dependency is not. */
const GRPC_UNAVAILABLE = 14;
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** "/2/3.5" → { num1: 2, num2: 3.5 }; undefined unless exactly two finite numbers. */
export function parseOperands(rest: string): { num1: number; num2: number } | undefined {
  const parts = rest.split('/').filter((part) => part !== '');
  if (parts.length !== 2 || !parts.every((part) => NUMBER.test(decodeURIComponent(part)))) return undefined;
  const [num1, num2] = parts.map((part) => Number(decodeURIComponent(part))) as [number, number];
  return Number.isFinite(num1) && Number.isFinite(num2) ? { num1, num2 } : undefined;
}

/** Bodies up to this size of requests that may be retried are read first, so a retry can resend them. */
const REPLAYABLE_BODY_BYTES = 64 * 1024;
const TICKET_PATH = /^\/pending_results\/([0-9a-f-]{36})$/;
const TICKET_STATES: readonly TicketState[] = ['pending', 'done', 'failed'];
// Which failures an attempt hands back instead of answering (see forwardWithRetries).
const HAND_BACK_NONE: ReadonlySet<FailureKind> = new Set();
const HAND_BACK_REFUSED: ReadonlySet<FailureKind> = new Set(['refused']);
const HAND_BACK_ALL: ReadonlySet<FailureKind> = new Set(['refused', 'reset', 'timeout', 'status']);

export interface GatewayOptions {
  topology: Topology;
  /** Service name → base URLs of its instances, in declared order. */
  placement: Record<string, string[]>;
  /** Service name → base URLs of its passive spares, in order. */
  spares?: Record<string, string[]>;
  /** The monitor's base URL: member states follow its event feed (GET /events). */
  monitorUrl?: string | null;
  log: Logger;
  instance?: string;
  host?: string;
  port?: number;
  /** Passive outlier detection settings (default OUTLIER_DEFAULTS). */
  outlier?: OutlierOptions;
  /** The bus store-and-forward journals on; without it, routes with storeAndForward answer 503 like others. */
  bus?: Bus;
  replay?: ReplayOptions;
  /** Enables the admin port (loopback) with this token. */
  adminToken?: string | undefined;
  /** Admin port; 0 (default) picks a free one. */
  adminPort?: number;
}

export interface Gateway {
  listen(): Promise<string>;
  /** The admin port's URL once listening, when there is an admin token. */
  readonly adminUrl: string | undefined;
  close(): Promise<void>;
}

export function createGateway(options: GatewayOptions): Gateway {
  const { topology, placement, log } = options;
  const instance = options.instance ?? 'gateway';
  const startedAt = Date.now();
  const match = createRouter(topology.routes);
  const upstreams = createUpstreams();
  const grpcServices = new Set(topology.services.filter((s) => s.kind === 'grpc').map((s) => s.name));
  const grpcUpstreams = createGrpcUpstreams();
  const registry = createRegistry({ service: 'gateway', instance });
  const metrics = createGatewayMetrics(registry);
  const outlier = options.outlier ?? { ...OUTLIER_DEFAULTS, ejectAfter5xx: topology.gateway.ejectAfter5xx };
  const { percent, minRetries, windowMs } = topology.gateway.retryBudget;
  const pools = createPools(
    topology,
    placement,
    outlier,
    (service, member, _, reason) => {
      log.warn({ member: member.name, state: member.state, reason }, `${member.name} is ${member.state}: ${reason}`);
      if (member.state === 'ejected') metrics.memberEjected(service, member);
      metrics.memberStates(service, [member]);
    },
    options.spares,
    (service, origin, timeoutMs) =>
      grpcServices.has(service) ? grpcServing(origin, timeoutMs) : httpHealthy(service, origin, timeoutMs),
  );
  for (const pool of pools.all()) metrics.memberStates(pool.service, pool.members);
  const budgets = new Map<string, RetryBudget>();
  const budgetFor = (service: string) => {
    let budget = budgets.get(service);
    if (budget === undefined) {
      budget = createRetryBudget({ ratio: percent / 100, minRetries, windowMs });
      budgets.set(service, budget);
    }
    return budget;
  };
  const safServices = [...new Set(topology.routes.filter((r) => r.storeAndForward).map((r) => r.service))];
  let journal: Journal | undefined;
  let feed: { close(): void } | undefined;
  let admin: AdminServer | undefined;
  let adminUrl: string | undefined;

  /**
   * Sends the request to the service's pool. A failure nothing was sent for (connection refused) is
   * tried on another instance when the body can be sent again; a request that is safe to repeat
   * (GET/HEAD, an Idempotency-Key, or a route marked idempotent) is also retried after a reset, a
   * per-try timeout or a 5xx — all within the route's deadline and the service's retry budget. A
   * request whose connection broke after it was sent (it may be what crashed the instance) is tried
   * on at most one more instance. On a store-and-forward route, a request no instance could take is
   * journaled and answered 202.
   */
  async function forwardWithRetries(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: RouteSpec,
    path: string,
    trace: TraceContext,
  ): Promise<number> {
    const pool = pools.get(spec.service);
    const budget = budgetFor(spec.service);
    const storable = spec.storeAndForward && journal !== undefined;
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const safe =
      req.method === 'GET' || req.method === 'HEAD' || req.headers['idempotency-key'] !== undefined || spec.idempotent;
    let body: Buffer | undefined;
    if (hasBody && (storable || (safe && Number(req.headers['content-length']) <= REPLAYABLE_BODY_BYTES))) {
      try {
        body = await readBody(req, topology.gateway.bodyLimitBytes);
      } catch (error) {
        if (!isTooLarge(error)) return 499; // the client went away mid-body
        sendJsonError(
          res,
          413,
          KitErrors.PAYLOAD_TOO_LARGE,
          `request body over ${topology.gateway.bodyLimitBytes} bytes`,
        );
        return 413;
      }
    }
    const replayable = !hasBody || body !== undefined;
    // Stored requests of this service are still waiting: a new one queues behind them, keeping the order.
    if (storable && journal!.backlog(spec.service) > 0) return store(req, res, spec, path, trace, body);

    const deadline = performance.now() + spec.timeoutMs;
    const tried = new Set<string>();
    budget.recordRequest(Date.now());
    let last: Failure | undefined;
    const giveUp = (why: 'last' | 'budget' = 'last') => {
      req.resume();
      if (storable && (last === undefined || last.failure === 'refused'))
        return store(req, res, spec, path, trace, body);
      if (last !== undefined) return answerUnretried(res, last, spec.service, why);
      sendJsonError(res, 503, GatewayErrors.NO_INSTANCE, `service ${spec.service} has no healthy instance`);
      return 503;
    };
    for (;;) {
      const member = pool?.select(tried);
      const remainingMs = Math.floor(deadline - performance.now());
      if (member === undefined || remainingMs <= 0) return giveUp();
      tried.add(member.name);
      const another = pool!.members.some((m) => m.state === 'healthy' && !tried.has(m.name));
      const handBack = !replayable
        ? HAND_BACK_NONE
        : safe && another
          ? HAND_BACK_ALL
          : another || storable
            ? HAND_BACK_REFUSED
            : HAND_BACK_NONE;
      // A hung instance accepts connections and never answers: when another could take the request,
      // wait for this one at most the route's tryTimeoutMs.
      const tryMs = handBack === HAND_BACK_ALL ? Math.min(remainingMs, spec.tryTimeoutMs) : remainingMs;
      member.outstanding += 1;
      const attemptStarted = performance.now();
      const attempt = trace.sampled && tracing() ? childOf(trace) : trace;
      const attemptStartMs = attempt === trace ? 0 : nowMs();
      let outcome: Outcome;
      try {
        outcome = await forward(
          req,
          res,
          upstreams,
          {
            origin: member.origin,
            path,
            timeoutMs: tryMs,
            bodyLimitBytes: topology.gateway.bodyLimitBytes,
            handBack,
            body,
          },
          log,
          attempt,
        );
      } finally {
        member.outstanding -= 1;
      }
      if (attempt !== trace) recordAttemptSpan(attempt, attemptStartMs, member.name, outcome);
      metrics.attempt(spec.service, member, outcome, (performance.now() - attemptStarted) / 1000);
      pool!.record(member, outcome);
      if (!('failure' in outcome)) return outcome.status;
      // Poison suspects get one more instance, not every one: in seed 001 the spare died of the same
      // request that had killed the primary.
      if (outcome.failure === 'reset' && last?.failure === 'reset') {
        return answerUnretried(res, outcome, spec.service, 'poison');
      }
      last = outcome;
      if (!budget.tryRetry(Date.now())) {
        metrics.budgetRefusal(spec.service, spec.prefix);
        return giveUp('budget');
      }
      metrics.retry(spec.service, spec.prefix);
    }
  }

  /**
   * A transcoded route: GET <prefix>/<num1>/<num2> → calculator.Calculator/<method> on the service's
   * pool. Calculator operations are pure, so every failure may be retried on another instance (within
   * the deadline and the budget); when none answers — down or hung — the operation is journaled (202).
   */
  async function forwardGrpc(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: RouteSpec,
    url: string,
    trace: TraceContext,
  ) {
    req.resume();
    res.setHeader('x-request-id', trace.requestId);
    const grpc = spec.grpc!;
    if (req.method !== 'GET') {
      sendJsonError(res, 405, GatewayErrors.METHOD_NOT_ALLOWED, `${spec.prefix} answers GET only`);
      return 405;
    }
    const operands = parseOperands(url.split('?')[0]!.slice(spec.prefix.length));
    if (operands === undefined) {
      sendJsonError(
        res,
        422,
        GatewayErrors.INVALID_OPERANDS,
        `num1 and num2 must be numbers: ${spec.prefix}/<num1>/<num2>`,
      );
      return 422;
    }
    const call: StoredCall = { method: grpc.method, message: operands, label: grpc.label };
    const storable = spec.storeAndForward && journal !== undefined;
    if (storable && journal!.backlog(spec.service) > 0) return store(req, res, spec, url, trace, undefined, call);
    const pool = pools.get(spec.service);
    const budget = budgetFor(spec.service);
    budget.recordRequest(Date.now());
    const deadline = performance.now() + spec.timeoutMs;
    const tried = new Set<string>();
    let last: Failure | undefined;
    for (;;) {
      const member = pool?.select(tried);
      const remainingMs = Math.floor(deadline - performance.now());
      if (member === undefined || remainingMs <= 0) {
        if (storable) return store(req, res, spec, url, trace, undefined, call);
        if (last !== undefined) return answerUnretried(res, last, spec.service);
        sendJsonError(res, 503, GatewayErrors.NO_INSTANCE, `service ${spec.service} has no healthy instance`);
        return 503;
      }
      tried.add(member.name);
      const another = pool!.members.some((m) => m.state === 'healthy' && !tried.has(m.name));
      const started = performance.now();
      const attempt = trace.sampled && tracing() ? childOf(trace) : trace;
      const attemptStartMs = attempt === trace ? 0 : nowMs();
      member.outstanding += 1;
      let answer: StoredAnswer | Failure;
      try {
        const tryMs = another ? Math.min(remainingMs, spec.tryTimeoutMs) : remainingMs;
        answer = await sendGrpc(member.origin, call, tryMs, traceHeaders(attempt));
      } finally {
        member.outstanding -= 1;
      }
      const outcome: Outcome = 'failure' in answer ? answer : { status: answer.status };
      if (attempt !== trace) recordAttemptSpan(attempt, attemptStartMs, member.name, outcome);
      metrics.attempt(spec.service, member, outcome, (performance.now() - started) / 1000);
      if (!('failure' in answer && answer.unavailable)) pool!.record(member, outcome);
      if (!('failure' in answer)) {
        res.writeHead(answer.status, { ...answer.headers, 'x-request-id': trace.requestId });
        res.end(answer.body);
        return answer.status;
      }
      last = answer;
      if (!budget.tryRetry(Date.now())) {
        metrics.budgetRefusal(spec.service, spec.prefix);
        if (storable) return store(req, res, spec, url, trace, undefined, call);
        return answerUnretried(res, last, spec.service, 'budget');
      }
      metrics.retry(spec.service, spec.prefix);
    }
  }

  /** One gRPC call as an HTTP-shaped answer: 200 { operation, result }, 422 for bad arguments, or a Failure. */
  async function sendGrpc(
    origin: string,
    call: StoredCall,
    deadlineMs: number,
    headers?: Record<string, string>,
  ): Promise<StoredAnswer | Failure> {
    const outcome = await grpcUpstreams.call(origin, call.method, call.message, deadlineMs, { headers });
    if (outcome.ok) {
      const body = JSON.stringify({ operation: call.method.toLowerCase(), result: outcome.response.result });
      return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(body) };
    }
    if (outcome.failure === 'status' && outcome.code === GRPC_INVALID_ARGUMENT) {
      const body = JSON.stringify(errorBody(GatewayErrors.INVALID_OPERANDS, outcome.details ?? 'invalid argument'));
      return { status: 422, headers: { 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(body) };
    }
    const unavailable =
      outcome.failure === 'status' && outcome.code === GRPC_UNAVAILABLE && outcome.errorCode !== undefined;
    return { failure: outcome.failure, status: 502, error: outcome.details, unavailable };
  }

  async function store(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: RouteSpec,
    path: string,
    trace: TraceContext,
    body: Buffer | undefined,
    call?: StoredCall,
  ): Promise<number> {
    let ticket: Awaited<ReturnType<Journal['store']>>;
    try {
      ticket = await journal!.store({
        service: spec.service,
        route: spec.prefix,
        method: req.method ?? 'GET',
        path,
        headers: upstreamHeaders(req, trace),
        body: body === undefined || body.length === 0 ? null : body.toString('base64'),
        timeoutMs: spec.timeoutMs,
        grpc: call,
      });
    } catch (error) {
      log.error({ err: error, service: spec.service }, 'store-and-forward journal append failed');
      sendJsonError(
        res,
        503,
        GatewayErrors.JOURNAL_UNAVAILABLE,
        `${spec.service} is down and the journal is unavailable`,
      );
      return 503;
    }
    metrics.stored(spec.service, spec.prefix);
    const statusUrl = `/pending_results/${ticket.ticket}`;
    res.setHeader('location', statusUrl);
    res.setHeader('x-request-id', trace.requestId);
    sendJson(res, 202, {
      ...(spec.storedMessage === undefined ? {} : { message: spec.storedMessage }),
      ticket: ticket.ticket,
      statusUrl,
      state: ticket.state,
      service: spec.service,
    });
    return 202;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const started = performance.now();
    const url = req.url ?? '/';
    if (req.method === 'GET' && (url === '/health' || url === '/metrics')) return serveOwn(url, res);
    if (req.method === 'GET' && url.startsWith('/pending_results')) return servePending(url, res);
    const found = match(url, req.method);
    const trace = continueTrace(req.headers);
    const spanStartMs = trace.sampled && tracing() ? nowMs() : 0;
    let status: number;
    let route = 'unmatched';
    if (found === undefined) {
      req.resume();
      status = 404;
      sendJsonError(res, 404, GatewayErrors.ROUTE_NOT_FOUND, `no route for ${req.method} ${url.split('?')[0]}`);
    } else {
      route = found.route.prefix;
      status =
        found.route.grpc === undefined
          ? await forwardWithRetries(req, res, found.route, found.upstreamPath, trace)
          : await forwardGrpc(req, res, found.route, url, trace);
    }
    metrics.request(req.method ?? 'GET', route, status, (performance.now() - started) / 1000);
    if (spanStartMs !== 0) recordGatewaySpan(trace, spanStartMs, req.method ?? 'GET', route, status);
  }

  /** GET /pending_results[?state=&service=&limit=] and GET /pending_results/:ticket. */
  function servePending(url: string, res: http.ServerResponse) {
    const parsed = new URL(url, 'http://gateway');
    const one = TICKET_PATH.exec(parsed.pathname)?.[1];
    if (one !== undefined) {
      const ticket = journal?.get(one);
      if (ticket === undefined) return sendJsonError(res, 404, GatewayErrors.TICKET_NOT_FOUND, `no ticket ${one}`);
      return sendJson(res, 200, ticket);
    }
    if (parsed.pathname !== '/pending_results') {
      return sendJsonError(res, 404, GatewayErrors.TICKET_NOT_FOUND, 'a ticket is a UUID: /pending_results/<ticket>');
    }
    const state = parsed.searchParams.get('state') ?? undefined;
    if (state !== undefined && !TICKET_STATES.includes(state as TicketState)) {
      return sendJsonError(res, 400, KitErrors.VALIDATION_FAILED, `state must be one of ${TICKET_STATES.join(', ')}`);
    }
    const limitText = parsed.searchParams.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) {
      return sendJsonError(res, 400, KitErrors.VALIDATION_FAILED, 'limit must be an integer from 1 to 1000');
    }
    const service = parsed.searchParams.get('service') ?? undefined;
    const results = journal?.list({ state: state as TicketState | undefined, service, limit }) ?? [];
    sendJson(res, 200, { results });
  }

  async function serveOwn(url: string, res: http.ServerResponse) {
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    sendJson(res, 200, {
      status: 'ready',
      ready: true,
      instance,
      service: 'gateway',
      role: 'gateway',
      pid: process.pid,
      uptimeMs: Date.now() - startedAt,
      position: null,
    });
  }

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error }, 'gateway handler failed');
      sendJsonError(res, 500, KitErrors.INTERNAL, 'internal error');
    });
  });
  server.on('clientError', (error, socket) => {
    if (!socket.writable) return socket.destroy();
    const body = JSON.stringify(
      errorBody(KitErrors.BAD_REQUEST, `malformed request: ${(error as { code?: string }).code ?? 'error'}`),
    );
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    async listen() {
      if (options.bus !== undefined && safServices.length > 0) {
        journal = await openJournal({
          bus: options.bus,
          pools,
          upstreams,
          log,
          services: safServices,
          replay: options.replay,
          onBacklog: (service, pending) => metrics.pending(service, pending),
          grpc: sendGrpc,
        });
      } else if (safServices.length > 0) {
        log.warn(
          { services: safServices },
          'no bus: store-and-forward routes answer 503 when no instance can take them',
        );
      }
      if (options.monitorUrl) feed = feedPoolsFromMonitor(pools, options.monitorUrl, log);
      if (options.adminToken) {
        admin = createAdminServer({
          token: options.adminToken,
          routes: topology.routes,
          pools,
          log,
          port: options.adminPort ?? 0,
        });
        adminUrl = await admin.listen();
      }
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? topology.gateway.port, options.host ?? topology.gateway.host, () => {
          const { address, port } = server.address() as AddressInfo;
          resolve(`http://${address.includes(':') ? `[${address}]` : address}:${port}`);
        });
      });
    },
    get adminUrl() {
      return adminUrl;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      feed?.close();
      await admin?.close();
      await journal?.close();
      pools.close();
      await upstreams.close();
      await grpcUpstreams.close();
    },
  };
}
