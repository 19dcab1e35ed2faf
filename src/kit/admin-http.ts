// The pieces every loopback admin port shares (the gateway's, the supervisor's): token check,
// JSON answers and bodies, and the listen/close pair of a plain node:http server.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorBody, KitErrors } from './errors.ts';
import type { Logger } from './logger.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

export function sendJson(res: http.ServerResponse, status: number, value: unknown) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: http.ServerResponse, status: number, code: string, message: string) {
  if (res.headersSent) return void res.destroy();
  sendJson(res, status, errorBody(code, message));
}

/** Reads a JSON body of at most `limitBytes`; undefined (after answering 400) when it is not one. */
export async function readJson(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  limitBytes = 4096,
): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) {
      sendError(res, 413, KitErrors.PAYLOAD_TOO_LARGE, `the body must be at most ${limitBytes} bytes`);
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const value: unknown = text.trim() === '' ? {} : JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  sendError(res, 400, KitErrors.INVALID_JSON, 'the body must be a JSON object');
  return undefined;
}

export type AdminHandler = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<void>;

export interface AdminHttpServer {
  /** Listens on 127.0.0.1:port (0: any free port); resolves to the base URL. */
  listen(port: number): Promise<string>;
  close(): Promise<void>;
}

/** A loopback server that answers only requests with `Authorization: Bearer <token>`. */
export function createAdminHttpServer(token: string, log: Logger, handle: AdminHandler): AdminHttpServer {
  const expected = Buffer.from(`Bearer ${token}`);
  const server = http.createServer((req, res) => {
    if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) {
      req.resume();
      return sendError(res, 403, KitErrors.UNAUTHORIZED, 'the admin port answers on loopback only');
    }
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      req.resume();
      return sendError(res, 401, KitErrors.UNAUTHORIZED, 'admin token missing or wrong');
    }
    handle(req, res, (req.url ?? '/').split('?')[0]!).catch((error: unknown) => {
      log.error({ err: error }, 'admin handler failed');
      sendError(res, 500, KitErrors.INTERNAL, 'internal error');
    });
  });
  return {
    listen: (port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
