// The gateway's admin port: loopback only, every request with `Authorization: Bearer <admin token>`.
//   GET  /routes                    the routing table
//   GET  /pools                     every pool member's state, why and since when
//   PUT  /pools/members/:instance   { "state": "healthy" | "down" | "syncing", "reason"? } — the
//                                   monitor's feed (instance names are unique across pools)
import type http from 'node:http';
import { createAdminHttpServer, readJson, sendError, sendJson } from '../kit/admin-http.ts';
import { KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import type { RouteSpec } from '../topology/types.ts';
import type { FedState, Pools } from './pool.ts';

const FED_STATES: readonly FedState[] = ['healthy', 'down', 'syncing'];
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
  async function handle(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (req.method === 'GET' && path === '/routes') return sendJson(res, 200, { routes: options.routes });
    if (req.method === 'GET' && path === '/pools') {
      return sendJson(res, 200, { pools: options.pools.all().map((pool) => pool.view()) });
    }
    const member = MEMBER_PATH.exec(path)?.[1];
    if (req.method === 'PUT' && member !== undefined) return setState(req, res, member);
    req.resume();
    sendError(res, 404, KitErrors.NOT_FOUND, `no admin route for ${req.method} ${path}`);
  }

  async function setState(req: http.IncomingMessage, res: http.ServerResponse, instance: string) {
    const body = await readJson(req, res);
    if (body === undefined) return;
    const state = body.state as FedState;
    if (!FED_STATES.includes(state)) {
      return sendError(res, 400, KitErrors.VALIDATION_FAILED, `state must be one of ${FED_STATES.join(', ')}`);
    }
    if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 200)) {
      return sendError(res, 400, KitErrors.VALIDATION_FAILED, 'reason must be a string of at most 200 characters');
    }
    const reason = (body.reason as string | undefined) ?? `set to ${state} on the admin port`;
    if (!options.pools.setState(instance, state, reason)) {
      return sendError(res, 404, KitErrors.UNKNOWN_INSTANCE, `no pool has an instance named ${instance}`);
    }
    const pool = options.pools.all().find((p) => p.members.some((m) => m.name === instance))!;
    sendJson(
      res,
      200,
      pool.view().members.find((m) => m.name === instance),
    );
  }

  const server = createAdminHttpServer(options.token, options.log, handle);
  return { listen: () => server.listen(options.port), close: () => server.close() };
}
