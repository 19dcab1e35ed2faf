// Store-and-forward with real processes: three backend instances and the gateway (`archlab run
// gateway`, journal on the SQLite bus) as OS processes. Every backend is SIGKILLed, requests get 202
// tickets, the gateway itself is SIGKILLed and restarted, the backends come back, and every ticket
// completes, replayed in the order it was accepted.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { kill, startBackend } from '../helpers/backend.ts';
import { freePort } from '../helpers/ports.ts';
import { deleteKeys } from '../helpers/redis.ts';
import { needRedis, REDIS_URL } from '../helpers/services.ts';
import { CLI } from '../helpers/system.ts';
import { tmpDir, uniqueName } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Adds a and b; appends what it was asked (and under which ticket) to the file LOG. */
const ADDER = `
const http = require('node:http');
const fs = require('node:fs');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/health') return res.end('{"ready":true}');
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const { a, b } = JSON.parse(body);
    const entry = { name: process.env.NAME, ticket: req.headers['x-archlab-ticket'] ?? null, key: req.headers['idempotency-key'] ?? null, a };
    fs.appendFileSync(process.env.LOG, JSON.stringify(entry) + '\\n');
    res.setHeader('x-served-by', process.env.NAME);
    res.end(JSON.stringify({ sum: a + b }));
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

interface Accepted {
  ticket: string;
  statusUrl: string;
  state: string;
}

interface TicketView {
  ticket: string;
  state: string;
  answer: { status: number; body: { sum: number } } | null;
}

async function startGateway(t: TestContext, dataDir: string, topologyFile: string, port: number) {
  const child = spawn(
    process.execPath,
    [CLI, 'run', 'gateway', '--port', String(port), '--data', dataDir, '--topology', topologyFile],
    { env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let errors = '';
  child.stderr!.on('data', (chunk) => {
    errors += chunk;
  });
  t.after(() => kill(child));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}): ${errors}`);
      return (await fetch(`${base}/health`)).ok;
    },
    { what: 'the gateway to serve', timeoutMs: 15_000 },
  );
  return { child, base };
}

async function add(base: string, a: number) {
  const res = await fetch(`${base}/api/add`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a, b: 100 }),
  });
  return { status: res.status, body: (await res.json()) as Accepted & { sum?: number } };
}

for (const backend of ['sqlite', 'redis'] as const) {
  test(`${backend} bus: every backend SIGKILLed → 202 tickets survive a gateway SIGKILL and all complete, in order`, {
    skip: backend === 'redis' ? await needRedis() : false,
  }, async (t) => {
    await crashAndRecover(t, backend);
  });
}

async function crashAndRecover(t: TestContext, backend: 'sqlite' | 'redis') {
  const dataDir = tmpDir(t, 'archlab-saf-');
  let bus = '';
  if (backend === 'redis') {
    const prefix = `${uniqueName('saf')}:`;
    t.after(() => deleteKeys(prefix));
    bus = `bus: "${REDIS_URL}/0?prefix=${prefix}"\n`;
  }
  const log = path.join(dataDir, 'served.jsonl');
  writeFileSync(log, '');
  const ports = [await freePort(), await freePort(), await freePort()];
  const topologyFile = path.join(dataDir, 'archlab.yaml');
  writeFileSync(
    topologyFile,
    `${bus}services:
  calculator-add: { instances: 3 }
routes:
  - { prefix: /api/add, service: calculator-add, storeAndForward: true, timeoutMs: 3000 }
`,
  );
  writeFileSync(
    path.join(dataDir, 'placement.json'),
    JSON.stringify({ services: { 'calculator-add': ports.map((port) => `http://127.0.0.1:${port}`) } }),
  );
  const backends = async () => {
    const started: ChildProcess[] = [];
    for (const [i, port] of ports.entries())
      started.push(await startBackend(t, `add-${i + 1}`, port, ADDER, { LOG: log }));
    return started;
  };
  let children = await backends();
  const gatewayPort = await freePort();
  let gateway = await startGateway(t, dataDir, topologyFile, gatewayPort);

  const live = await add(gateway.base, 1);
  assert.equal(live.status, 200, 'served directly while the service is up');
  assert.equal(live.body.sum, 101);

  for (const child of children) await kill(child);
  const tickets: string[] = [];
  for (let a = 0; a < 10; a++) {
    const { status, body } = await add(gateway.base, a);
    assert.equal(status, 202, `request ${a} is stored`);
    assert.equal(body.state, 'pending');
    assert.equal(body.statusUrl, `/pending_results/${body.ticket}`);
    tickets.push(body.ticket);
  }

  // The gateway dies too; the journal is on the bus, so its successor knows every ticket.
  await kill(gateway.child);
  gateway = await startGateway(t, dataDir, topologyFile, gatewayPort);
  const listed = (await (await fetch(`${gateway.base}/pending_results?state=pending`)).json()) as {
    results: TicketView[];
  };
  assert.deepEqual(listed.results.map((r) => r.ticket).sort(), [...tickets].sort());

  // Still down: more requests queue behind the first ten.
  for (let a = 10; a < 15; a++) {
    const { status, body } = await add(gateway.base, a);
    assert.equal(status, 202);
    tickets.push(body.ticket);
  }

  children = await backends();
  const done = await waitFor(
    async () => {
      const views = await Promise.all(
        tickets.map(
          async (ticket) => (await (await fetch(`${gateway.base}/pending_results/${ticket}`)).json()) as TicketView,
        ),
      );
      return views.every((view) => view.state !== 'pending') ? views : undefined;
    },
    { what: 'every ticket to complete', timeoutMs: 30_000 },
  );
  for (const [a, view] of done.entries()) {
    assert.equal(view.state, 'done', `ticket ${a}`);
    assert.equal(view.answer?.status, 200);
    assert.equal(view.answer?.body.sum, a + 100, `ticket ${a} carries its own answer`);
  }

  // The backends saw each ticket (at least once, under its ticket as Idempotency-Key), in the order accepted.
  const served = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { ticket: string | null; key: string | null; a: number });
  const replays = served.filter((entry) => entry.ticket !== null);
  for (const entry of replays) assert.equal(entry.key, entry.ticket);
  const firstSeen = [...new Set(replays.map((entry) => entry.ticket))];
  assert.deepEqual(firstSeen, tickets, 'replayed in the order the gateway accepted them');

  // Drained: the route serves directly again.
  const after = await add(gateway.base, 7);
  assert.equal(after.status, 200);
  assert.equal(after.body.sum, 107);
  const metrics = await (await fetch(`${gateway.base}/metrics`)).text();
  assert.match(metrics, /archlab_gateway_pending_tickets\{[^}]*service="calculator-add"[^}]*\} 0/);
}

test('pending_results answers bad input with JSON errors', async (t) => {
  const dataDir = tmpDir(t, 'archlab-saf-');
  const topologyFile = path.join(dataDir, 'archlab.yaml');
  writeFileSync(
    topologyFile,
    `services:
  calculator-add: { instances: 1 }
routes:
  - { prefix: /api/add, service: calculator-add, storeAndForward: true }
`,
  );
  writeFileSync(
    path.join(dataDir, 'placement.json'),
    JSON.stringify({ services: { 'calculator-add': [`http://127.0.0.1:${await freePort()}`] } }),
  );
  const { base } = await startGateway(t, dataDir, topologyFile, await freePort());
  const cases: [string, number, string][] = [
    ['/pending_results/00000000-0000-4000-8000-000000000000', 404, 'ticket_not_found'],
    ['/pending_results/not-a-ticket', 404, 'ticket_not_found'],
    ['/pending_results?state=lost', 400, 'validation_failed'],
    ['/pending_results?limit=0', 400, 'validation_failed'],
    ['/pending_results?limit=abc', 400, 'validation_failed'],
  ];
  for (const [url, status, code] of cases) {
    const res = await fetch(`${base}${url}`);
    assert.equal(res.status, status, url);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, code, url);
  }
  const empty = (await (await fetch(`${base}/pending_results`)).json()) as { results: unknown[] };
  assert.deepEqual(empty.results, []);
});
