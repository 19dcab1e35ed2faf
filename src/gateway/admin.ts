// The gateway's admin port: loopback only, every request with `Authorization: Bearer <admin token>`.
//   GET  /routes                    the routing table
//   GET  /pools                     every pool member's state, why and since when
//   PUT  /pools/members/:instance   { "state": "healthy" | "down" | "syncing", "reason"? } — the
//                                   monitor's feed (instance names are unique across pools)
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import type { RouteSpec } from '../topology/types.ts';
import { GatewayErrors } from './errors.ts';
import type { FedState, Pools } from './pool.ts';
import { readBody, sendJsonError } from './proxy.ts';

const FED_STATES: readonly FedState[] = ['healthy', 'down', 'syncing'];
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const MEMBER_PATH = /^\/pools\/members\/([A-Za-z0-9._-]{1,128})$/;

export interface AdminOptions {
  token: string;
  routes: readonly RouteSpec[];
  pools: Pools;
  log: Logger;
  port: number;
}

export interface AdminServer {
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function createAdminServer(options: AdminOptions): AdminServer {
  const expected = Buffer.from(`Bearer ${options.token}`);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) {
      req.resume();
      return sendJsonError(res, 403, KitErrors.UNAUTHORIZED, 'the admin port answers on loopback only');
    }
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      req.resume();
      return sendJsonError(res, 401, KitErrors.UNAUTHORIZED, 'admin token missing or wrong');
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/routes') return sendJson(res, 200, { routes: options.routes });
    if (req.method === 'GET' && path === '/pools') {
      return sendJson(res, 200, { pools: options.pools.all().map((pool) => pool.view()) });
    }
    const member = MEMBER_PATH.exec(path)?.[1];
    if (req.method === 'PUT' && member !== undefined) return setState(req, res, member);
    req.resume();
    sendJsonError(res, 404, KitErrors.NOT_FOUND, `no admin route for ${req.method} ${path}`);
  }

  async function setState(req: http.IncomingMessage, res: http.ServerResponse, instance: string) {
    let body: { state?: unknown; reason?: unknown };
    try {
      body = JSON.parse((await readBody(req, 4096)).toString('utf8'));
    } catch {
      return sendJsonError(res, 400, KitErrors.INVALID_JSON, 'the body must be JSON of at most 4 KiB');
    }
    const state = body?.state as FedState;
    if (!FED_STATES.includes(state)) {
      return sendJsonError(res, 400, KitErrors.VALIDATION_FAILED, `state must be one of ${FED_STATES.join(', ')}`);
    }
    if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 200)) {
      return sendJsonError(res, 400, KitErrors.VALIDATION_FAILED, 'reason must be a string of at most 200 characters');
    }
    const reason = (body.reason as string | undefined) ?? `set to ${state} on the admin port`;
    if (!options.pools.setState(instance, state, reason)) {
      return sendJsonError(res, 404, GatewayErrors.UNKNOWN_INSTANCE, `no pool has an instance named ${instance}`);
    }
    const pool = options.pools.all().find((p) => p.members.some((m) => m.name === instance))!;
    sendJson(
      res,
      200,
      pool.view().members.find((m) => m.name === instance),
    );
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log.error({ err: error }, 'admin handler failed');
      sendJsonError(res, 500, KitErrors.INTERNAL, 'internal error');
    });
  });

  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, '127.0.0.1', () => {
          resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
