// The gateway's admin port (routing table, pool states, the monitor's feed), retries that resend a
// small body, and the per-route / per-instance metrics.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { createGateway } from '../../src/gateway/gateway.ts';
import { parseTopology } from '../../src/topology/loader.ts';
import { silentLogger } from '../helpers/log.ts';

const TOKEN = 'test-admin-token';

/** An upstream named `name`: answers `status` (default 200) with what it received. */
async function upstream(t: TestContext, name: string, status: () => number = () => 200) {
  const seen: { method: string; body: string }[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.url !== '/health') seen.push({ method: req.method ?? '', body });
    res.statusCode = req.url === '/health' ? 200 : status();
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-served-by', name);
    res.end(JSON.stringify({ servedBy: name, body }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function startGateway(t: TestContext, origins: string[]) {
  const topology = parseTopology(
    `services:
  users-queries: { instances: 3, redundancy: { active: { policy: primary-backup } } }
  users-commands: { instances: 3 }
routes:
  - { prefix: /api-queries/users, service: users-queries, idempotent: true }
  - { prefix: /api-commands/users, service: users-commands }
`,
    { dataDir: '/tmp/unused', env: {} },
  );
  const gateway = createGateway({
    topology,
    placement: { 'users-queries': origins, 'users-commands': origins },
    log: silentLogger(),
    port: 0,
    adminToken: TOKEN,
  });
  const base = await gateway.listen();
  t.after(() => gateway.close());
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${gateway.adminUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
    });
  return { base, admin, adminUrl: gateway.adminUrl! };
}

const servedBy = async (url: string) => {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.headers.get('x-served-by');
};

test('admin port: token required, routing table, pool states, and the monitor feed moves traffic', async (t) => {
  const ups = [await upstream(t, 'q1'), await upstream(t, 'q2'), await upstream(t, 'q3')];
  const { base, admin, adminUrl } = await startGateway(
    t,
    ups.map((u) => u.origin),
  );
  assert.match(adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await fetch(`${adminUrl}/pools`)).status, 401, 'no token');
  assert.equal((await fetch(`${adminUrl}/pools`, { headers: { authorization: 'Bearer wrong' } })).status, 401);

  const routes = (await (await admin('/routes')).json()) as { routes: { prefix: string; service: string }[] };
  assert.deepEqual(
    routes.routes.map((r) => [r.prefix, r.service]),
    [
      ['/api-queries/users', 'users-queries'],
      ['/api-commands/users', 'users-commands'],
    ],
  );
  const pools = (await (await admin('/pools')).json()) as {
    pools: { service: string; policy: string; members: { name: string; state: string }[] }[];
  };
  const queries = pools.pools.find((p) => p.service === 'users-queries')!;
  assert.equal(queries.policy, 'primary-backup');
  assert.deepEqual(
    queries.members.map((m) => [m.name, m.state]),
    [
      ['users-queries-1', 'healthy'],
      ['users-queries-2', 'healthy'],
      ['users-queries-3', 'healthy'],
    ],
  );

  const url = `${base}/api-queries/users`;
  assert.equal(await servedBy(url), 'q1');
  const down = await admin('/pools/members/users-queries-1', {
    method: 'PUT',
    body: JSON.stringify({ state: 'down', reason: 'monitor: 3 missed echoes' }),
  });
  assert.equal(down.status, 200);
  assert.deepEqual(((await down.json()) as { state: string; reason: string }).state, 'down');
  assert.equal(await servedBy(url), 'q2', 'fail-over on the monitor saying down');
  await admin('/pools/members/users-queries-2', { method: 'PUT', body: JSON.stringify({ state: 'syncing' }) });
  assert.equal(await servedBy(url), 'q3', 'a syncing member takes no traffic');
  await admin('/pools/members/users-queries-3', { method: 'PUT', body: JSON.stringify({ state: 'down' }) });
  const none = await fetch(url);
  assert.equal(none.status, 503);
  const error = ((await none.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'no_instance');
  assert.match(error.message, /users-queries/);
  await admin('/pools/members/users-queries-1', { method: 'PUT', body: JSON.stringify({ state: 'healthy' }) });
  assert.equal(await servedBy(url), 'q1', 'fail-back when the primary is up again');

  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /archlab_gateway_member_state\{[^}]*instance="users-queries-3"[^}]*state="down"[^}]*\} 1/);
  assert.match(metrics, /archlab_gateway_member_state\{[^}]*instance="users-queries-1"[^}]*state="healthy"[^}]*\} 1/);
  assert.match(
    metrics,
    /archlab_gateway_upstream_requests_total\{[^}]*instance="users-queries-1"[^}]*outcome="2xx"[^}]*\} 2/,
  );
  assert.match(metrics, /archlab_gateway_requests_total\{[^}]*route="\/api-queries\/users"[^}]*class="5xx"[^}]*\} 1/);
  assert.match(metrics, /archlab_gateway_upstream_duration_seconds_count\{[^}]*instance="users-queries-2"[^}]*\} 1/);
});

test('admin port: bad input gets a JSON error and changes nothing', async (t) => {
  const ups = [await upstream(t, 'q1')];
  const { admin } = await startGateway(
    t,
    ups.map((u) => u.origin),
  );
  const cases: [string, RequestInit, number, string][] = [
    ['/pools/members/users-queries-1', { method: 'PUT', body: '{"state":"ejected"}' }, 400, 'validation_failed'],
    [
      '/pools/members/users-queries-1',
      { method: 'PUT', body: '{"state":"down","reason":7}' },
      400,
      'validation_failed',
    ],
    ['/pools/members/users-queries-1', { method: 'PUT', body: '{nope' }, 400, 'invalid_json'],
    ['/pools/members/users-queries-9', { method: 'PUT', body: '{"state":"down"}' }, 404, 'unknown_instance'],
    ['/nothing', {}, 404, 'not_found'],
  ];
  for (const [path, init, status, code] of cases) {
    const res = await admin(path, init);
    assert.equal(res.status, status, `${init.method ?? 'GET'} ${path} ${init.body}`);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
  }
  const pools = (await (await admin('/pools')).json()) as { pools: { members: { state: string }[] }[] };
  assert.ok(pools.pools.every((p) => p.members.every((m) => m.state === 'healthy')));
});

test('a POST with an Idempotency-Key is retried on another instance with its body after a 5xx', async (t) => {
  const failing = await upstream(t, 'c1', () => 503);
  const working = await upstream(t, 'c2');
  const { base } = await startGateway(t, [failing.origin, working.origin]);
  const body = JSON.stringify({ email: 'a@b.co' });
  // Round-robin: send until one request starts on the failing instance.
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${base}/api-commands/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `k-${i}` },
      body,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { servedBy: 'c2', body });
  }
  assert.ok(failing.seen.length >= 1, 'the failing instance was tried');
  assert.ok(working.seen.every((s) => s.body === body));
  // Without a key, a POST is not retried: every request reaches one instance, and each that reached
  // the failing one gets its 503.
  const before = { c1: failing.seen.length, c2: working.seen.length };
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${base}/api-commands/users`, { method: 'POST', body });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  const c1 = failing.seen.length - before.c1;
  const c2 = working.seen.length - before.c2;
  assert.equal(c1 + c2, 4, 'one attempt per request');
  assert.equal(statuses.filter((s) => s === 503).length, c1);
});
