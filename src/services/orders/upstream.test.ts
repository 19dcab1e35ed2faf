// The worker's calls to command sides: the instance that answered last first, the others on refusal,
// 5xx or timeout, and a clear error once none answered within the deadline.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { isAppError } from '../../kit/errors.ts';
import { createLogger } from '../../kit/logger.ts';
import { callOrder, createUpstream } from './upstream.ts';

const log = createLogger({ level: 'silent' });

test('callOrder puts the last instance that answered first, then the declared order', () => {
  assert.deepEqual(callOrder(['a', 'b', 'c'], undefined), ['a', 'b', 'c']);
  assert.deepEqual(callOrder(['a', 'b', 'c'], 'b'), ['b', 'a', 'c']);
  assert.deepEqual(callOrder(['a', 'b'], 'gone'), ['a', 'b']);
});

async function server(t: TestContext, status: number, seen: string[], name: string): Promise<string> {
  const srv: Server = createServer((req, res) => {
    seen.push(`${name} ${req.headers.authorization}`);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ from: name }));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

test('a 5xx or a refused connection passes the call on; the instance that answered is tried first next time', async (t) => {
  const seen: string[] = [];
  const failing = await server(t, 503, seen, 'failing');
  const healthy = await server(t, 201, seen, 'healthy');
  const refused = 'http://127.0.0.1:1';
  const upstream = createUpstream({
    dataDir: '/unused',
    token: 'secret',
    tryTimeoutMs: 500,
    deadlineMs: 2000,
    log,
    readPlacement: async () => ({
      services: { 'products-commands': [refused, failing, healthy] },
      instances: [],
      monitor: null,
    }),
  });
  const first = await upstream.post('products-commands', '/internal/x', {});
  assert.equal(first.status, 201);
  assert.deepEqual(first.body, { from: 'healthy' });
  assert.deepEqual(seen, ['failing Bearer secret', 'healthy Bearer secret']);
  await upstream.post('products-commands', '/internal/x', {});
  assert.deepEqual(seen.slice(2), ['healthy Bearer secret']);

  await assert.rejects(upstream.post('orders-commands', '/internal/y', {}), (error) => {
    assert.ok(isAppError(error));
    assert.equal(error.code, 'unavailable');
    return true;
  });
});
