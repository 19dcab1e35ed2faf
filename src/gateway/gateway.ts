// The gateway process's HTTP server: its own /health and /metrics, then the route table.
// Each service's instances form a pool with the balancer its topology names (pool.ts); health-aware
// member states, retries and store-and-forward come in the gateway's next step.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { createRegistry, httpDurationHistogram } from '../kit/metrics.ts';
import type { Topology } from '../topology/types.ts';
import { GatewayErrors } from './errors.ts';
import { createPools } from './pool.ts';
import { createUpstreams, forward, sendJsonError } from './proxy.ts';
import { createRouter } from './routes.ts';

export interface GatewayOptions {
  topology: Topology;
  /** Service name → base URLs of its instances, in declared order. */
  placement: Record<string, string[]>;
  log: Logger;
  instance?: string;
  host?: string;
  port?: number;
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
  const pools = createPools(topology, placement);

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
      const member = pools.get(found.route.service)?.select();
      if (member === undefined) {
        req.resume();
        status = 503;
        sendJsonError(res, 503, GatewayErrors.NO_INSTANCE, `service ${found.route.service} has no instance`);
      } else {
        member.outstanding += 1;
        try {
          status = await forward(
            req,
            res,
            upstreams,
            {
              origin: member.origin,
              path: found.upstreamPath,
              timeoutMs: found.route.timeoutMs,
              bodyLimitBytes: topology.gateway.bodyLimitBytes,
            },
            log,
          );
        } finally {
          member.outstanding -= 1;
        }
      }
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
      await upstreams.close();
    },
  };
}
