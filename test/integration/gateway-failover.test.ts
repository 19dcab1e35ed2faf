// The gateway masking an instance crash: three real backend processes behind a primary-backup pool,
// the serving one SIGKILLed in the middle of a bounded client loop of idempotent requests.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { type TestContext, test } from 'node:test';
import { createGateway } from '../../src/gateway/gateway.ts';
import { OUTLIER_DEFAULTS } from '../../src/gateway/pool.ts';
import { parseTopology } from '../../src/topology/loader.ts';
import { kill, PLAIN_BACKEND, startBackend } from '../helpers/backend.ts';
import { silentLogger } from '../helpers/log.ts';
import { freePort } from '../helpers/ports.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

/** A gateway with /api/ventas → sales-queries, three instances on `ports`, active primary-backup. */
async function primaryBackupGateway(t: TestContext, ports: number[]): Promise<string> {
  const topology = parseTopology(
    `services:
  sales-queries: { instances: 3, redundancy: { active: { policy: primary-backup } } }
routes:
  - { prefix: /api/ventas, service: sales-queries, timeoutMs: 5000 }
`,
    { dataDir: '/tmp/unused', env: {} },
  );
  const gateway = createGateway({
    topology,
    placement: { 'sales-queries': ports.map((port) => `http://127.0.0.1:${port}`) },
    log: silentLogger(),
    port: 0,
  });
  t.after(() => gateway.close());
  return gateway.listen();
}

async function get(url: string): Promise<{ status: number; servedBy: string | null }> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return { status: res.status, servedBy: res.headers.get('x-served-by') };
}

test('SIGKILL of the serving instance: zero client-visible errors, then fail-back to the primary', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = [
    await startBackend(t, 'b1', ports[0]!),
    await startBackend(t, 'b2', ports[1]!),
    await startBackend(t, 'b3', ports[2]!),
  ];
  const url = `${await primaryBackupGateway(t, ports)}/api/ventas`;

  const results: { status: number; servedBy: string | null }[] = [];
  // Four clients, 100 requests each; the primary dies a quarter of the way through.
  await Promise.all(
    Array.from({ length: 4 }, async (_, client) => {
      for (let i = 0; i < 100; i++) {
        if (client === 0 && i === 25) {
          await within(kill(children[0]!), 5000, 'b1 to die');
        }
        results.push(await get(url));
      }
    }),
  );
  assert.equal(results.length, 400);
  assert.deepEqual(
    results.filter((r) => r.status !== 200),
    [],
    'no client saw an error',
  );
  assert.ok(
    results.some((r) => r.servedBy === 'b1'),
    'the primary served before the crash',
  );
  assert.ok(
    results.some((r) => r.servedBy === 'b2'),
    'the first backup took over',
  );
  assert.ok(!results.some((r) => r.servedBy === 'b3'), 'primary-backup never skipped a healthy backup');

  // The primary comes back on its port: the ejection probe re-admits it and traffic fails back.
  children[0] = await startBackend(t, 'b1', ports[0]!);
  await waitFor(async () => (await get(url)).servedBy === 'b1', { what: 'fail-back to b1', timeoutMs: 15_000 });
});

test('against a service that always answers 500 the retry budget caps the extra load', async (t) => {
  let hits = 0;
  const http = await import('node:http');
  const origins: string[] = [];
  for (let i = 0; i < 3; i++) {
    const server = http.createServer((req, res) => {
      if (req.url !== '/health') hits++;
      res.statusCode = 500;
      res.end('{"error":{"code":"internal","message":"boom"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    origins.push(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  }
  const topology = parseTopology(
    `services:
  sales-queries: { instances: 3 }
routes:
  - { prefix: /api/ventas, service: sales-queries }
`,
    { dataDir: '/tmp/unused', env: {} },
  );
  // Ejection would also stop the storm (all three out after 3 × 500 each); turn it off to see the budget.
  const gateway = createGateway({
    topology,
    placement: { 'sales-queries': origins },
    log: silentLogger(),
    port: 0,
    outlier: { ...OUTLIER_DEFAULTS, ejectAfter5xx: Number.POSITIVE_INFINITY },
  });
  const base = await gateway.listen();
  t.after(() => gateway.close());
  const requests = 300;
  const statuses = new Set<number>();
  const refusals = new Set<string>();
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`${base}/api/ventas`);
    const text = await res.text();
    statuses.add(res.status);
    if (res.status === 502) refusals.add((JSON.parse(text) as { error: { message: string } }).error.message);
  }
  // The last instance's own 500 passes through; a retry the budget refused is a 502 naming the service.
  assert.deepEqual([...statuses].sort(), [500, 502]);
  assert.deepEqual(
    [...refusals],
    ['sales-queries: the instance tried last answered 500; no other instance was tried: the retry budget is spent'],
  );
  // Default budget: 20 % of requests plus a floor of 10 per window.
  assert.ok(hits <= requests + requests * 0.2 + 10, `${hits} upstream attempts for ${requests} requests`);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /archlab_gateway_retry_budget_refusals_total\{[^}]*service="sales-queries"[^}]*\} [1-9]/);
});

test('a request that crashes instances is tried on one more instance, not on all of them', async (t) => {
  // The same backend, except that the poison path kills it mid-request.
  const POISONABLE = PLAIN_BACKEND.replace(
    "res.setHeader('x-served-by'",
    "if (req.url.endsWith('/poison')) process.kill(process.pid, 'SIGKILL');\n  res.setHeader('x-served-by'",
  );
  const ports = [await freePort(), await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  for (const [i, port] of ports.entries()) children.push(await startBackend(t, `b${i + 1}`, port, POISONABLE));
  const base = await primaryBackupGateway(t, ports);
  const res = await fetch(`${base}/api/ventas/poison`);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(res.status, 502);
  assert.equal(body.error.code, 'upstream_unreachable');
  assert.match(body.error.message, /not replayed further/);
  await waitFor(() => children[1]!.signalCode === 'SIGKILL', { what: 'the backup to have been tried' });
  assert.equal(children[0]!.signalCode, 'SIGKILL');
  assert.equal(children[2]!.exitCode, null, 'the third instance never saw the poison request');
  assert.equal(children[2]!.signalCode, null);
  assert.equal((await get(`${base}/api/ventas`)).servedBy, 'b3', 'and it still serves');
});
