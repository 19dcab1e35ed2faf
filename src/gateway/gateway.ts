// The gateway process's HTTP server: its own /health and /metrics, then the route table.
// Each service's instances form a pool with the balancer its topology names (pool.ts); health-aware
// member states, retries and store-and-forward come in the gateway's next step.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter } from 'prom-client';
import { errorBody, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { createRegistry, httpDurationHistogram } from '../kit/metrics.ts';
import { continueTrace } from '../kit/trace.ts';
import type { RouteSpec, Topology } from '../topology/types.ts';
import { GatewayErrors } from './errors.ts';
import { createRetryBudget, type RetryBudget } from './policies/retry-budget.ts';
import { createPools, OUTLIER_DEFAULTS, type OutlierOptions } from './pool.ts';
import { answerUnretried, createUpstreams, type Failure, forward, type Outcome, sendJsonError } from './proxy.ts';
import { createRouter } from './routes.ts';

export interface GatewayOptions {
  topology: Topology;
  /** Service name → base URLs of its instances, in declared order. */
  placement: Record<string, string[]>;
  log: Logger;
  instance?: string;
  host?: string;
  port?: number;
  /** Passive outlier detection settings (default OUTLIER_DEFAULTS). */
  outlier?: OutlierOptions;
}

export interface Gateway {
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function createGateway(options: GatewayOptions): Gateway {
  const { topology, placement, log } = options;
  const instance = options.instance ?? 'gateway';
  const startedAt = Date.now();
  const match = createRouter(topology.routes);
  const upstreams = createUpstreams();
  const registry = createRegistry({ service: 'gateway', instance });
  const durations = httpDurationHistogram(registry);
  const pools = createPools(topology, placement, options.outlier ?? OUTLIER_DEFAULTS, (member, reason) =>
    log.warn({ member: member.name, state: member.state, reason }, `${member.name} is ${member.state}: ${reason}`),
  );
  const budgets = new Map<string, RetryBudget>();
  const budgetFor = (service: string) => {
    let budget = budgets.get(service);
    if (budget === undefined) {
      budget = createRetryBudget();
      budgets.set(service, budget);
    }
    return budget;
  };
  const retries = new Counter({
    name: 'archlab_gateway_retries_total',
    help: 'Attempts retried on another instance',
    labelNames: ['service'],
    registers: [registry],
  });
  const retryRefusals = new Counter({
    name: 'archlab_gateway_retry_budget_refusals_total',
    help: 'Retries the retry budget refused',
    labelNames: ['service'],
    registers: [registry],
  });

  /**
   * Sends the request to the service's pool. A request that is safe to repeat (GET/HEAD, an
   * Idempotency-Key, or a route marked idempotent) and has no body to replay is retried on another
   * instance after a failure nothing was sent for, within the route's deadline and the service's
   * retry budget. Anything else gets exactly one attempt. A request whose connection broke after it
   * was sent (it may be what crashed the instance) is tried on at most one more instance.
   */
  async function forwardWithRetries(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    spec: RouteSpec,
    path: string,
  ) {
    const trace = continueTrace(req.headers);
    const pool = pools.get(spec.service);
    const budget = budgetFor(spec.service);
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const safe =
      !hasBody &&
      (req.method === 'GET' ||
        req.method === 'HEAD' ||
        req.headers['idempotency-key'] !== undefined ||
        spec.idempotent);
    const deadline = performance.now() + spec.timeoutMs;
    const tried = new Set<string>();
    budget.recordRequest(Date.now());
    let last: Failure | undefined;
    for (;;) {
      const member = pool?.select(tried);
      const remainingMs = Math.floor(deadline - performance.now());
      if (member === undefined || remainingMs <= 0) {
        req.resume();
        if (last !== undefined) return answerUnretried(res, last, spec.service);
        sendJsonError(res, 503, GatewayErrors.NO_INSTANCE, `service ${spec.service} has no healthy instance`);
        return 503;
      }
      tried.add(member.name);
      // Hand failures back only when another instance could still take the request.
      const another = safe && pool!.members.some((m) => m.state === 'healthy' && !tried.has(m.name));
      member.outstanding += 1;
      let outcome: Outcome;
      try {
        outcome = await forward(
          req,
          res,
          upstreams,
          {
            origin: member.origin,
            path,
            timeoutMs: remainingMs,
            bodyLimitBytes: topology.gateway.bodyLimitBytes,
            handBackFailures: another,
          },
          log,
          trace,
        );
      } finally {
        member.outstanding -= 1;
      }
      pool!.record(member, outcome);
      if (!('failure' in outcome)) return outcome.status;
      // Poison suspects get one more instance, not every one: in seed 001 the spare died of the same
      // request that had killed the primary.
      if (outcome.failure === 'reset' && last?.failure === 'reset') return answerUnretried(res, outcome, spec.service);
      last = outcome;
      if (!budget.tryRetry(Date.now())) {
        retryRefusals.inc({ service: spec.service });
        return answerUnretried(res, last, spec.service);
      }
      retries.inc({ service: spec.service });
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const started = performance.now();
    const url = req.url ?? '/';
    if (req.method === 'GET' && (url === '/health' || url === '/metrics')) return serveOwn(url, res);
    const found = match(url);
    let status: number;
    let route = 'unmatched';
    if (found === undefined) {
      req.resume();
      status = 404;
      sendJsonError(res, 404, GatewayErrors.ROUTE_NOT_FOUND, `no route for ${req.method} ${url.split('?')[0]}`);
    } else {
      route = found.route.prefix;
      status = await forwardWithRetries(req, res, found.route, found.upstreamPath);
    }
    durations.observe(
      { method: req.method ?? 'GET', route, status: String(status) },
      (performance.now() - started) / 1000,
    );
  }

  async function serveOwn(url: string, res: http.ServerResponse) {
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    const body = JSON.stringify({
      status: 'ready',
      ready: true,
      instance,
      service: 'gateway',
      role: 'gateway',
      pid: process.pid,
      uptimeMs: Date.now() - startedAt,
      position: null,
    });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(body);
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
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? topology.gateway.port, options.host ?? topology.gateway.host, () => {
          const { address, port } = server.address() as AddressInfo;
          resolve(`http://${address.includes(':') ? `[${address}]` : address}:${port}`);
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      pools.close();
      await upstreams.close();
    },
  };
}
