// The supervisor's admin port: loopback only, `Authorization: Bearer <data/admin-token>`.
//   GET  /instances                          every instance: state, pid, port, role, health
//   POST /instances/:instance/:action        action: kill | hang | resume | restart;
//                                            body { "hold": true } with kill: no automatic restart
// The CLI (`archlab status`, `archlab fault`), the dashboard and the lab call it.
import type http from 'node:http';
import { createAdminHttpServer, readJson, sendError, sendJson } from '../kit/admin-http.ts';
import { isAppError, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import type { FaultAction, Supervisor } from './supervisor.ts';

const ACTIONS: readonly FaultAction[] = ['kill', 'hang', 'resume', 'restart'];
const ACTION_PATH = /^\/instances\/([A-Za-z0-9._-]{1,128})\/([a-z]{1,16})$/;

export function createSupervisorAdmin(options: { token: string; log: Logger; supervisor: () => Supervisor }) {
  async function handle(req: http.IncomingMessage, res: http.ServerResponse, path: string) {
    if (req.method === 'GET' && path === '/instances') {
      return sendJson(res, 200, { instances: options.supervisor().instances() });
    }
    const match = ACTION_PATH.exec(path);
    if (req.method !== 'POST' || match === null) {
      req.resume();
      return sendError(res, 404, KitErrors.NOT_FOUND, `no admin route for ${req.method} ${path}`);
    }
    const [, instance, action] = match as unknown as [string, string, string];
    const body = await readJson(req, res);
    if (body === undefined) return;
    if (!ACTIONS.includes(action as FaultAction)) {
      return sendError(res, 400, KitErrors.VALIDATION_FAILED, `action must be one of ${ACTIONS.join(', ')}`);
    }
    if (body.hold !== undefined && typeof body.hold !== 'boolean') {
      return sendError(res, 400, KitErrors.VALIDATION_FAILED, 'hold must be true or false');
    }
    try {
      const status = await options.supervisor().fault(instance, action as FaultAction, { hold: body.hold === true });
      sendJson(res, 200, status);
    } catch (error) {
      if (!isAppError(error)) throw error;
      sendError(res, error.status, error.code, error.message);
    }
  }
  return createAdminHttpServer(options.token, options.log, handle);
}
