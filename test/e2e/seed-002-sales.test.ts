// Seed 002 (sales): a command service, three query replicas behind a primary-backup gateway, a
// ping-echo monitor with fail-back. Its routes and messages through the gateway; its tactic (the
// principal replica killed, then hung, under a client read loop) with none of its bugs: no client
// error while the monitor has not noticed yet, a hung replica neither crashes the monitor nor hangs
// clients, fail-back only after the monitor's successThreshold, bodies forwarded, the switch
// endpoint authenticated, and every accepted sale in every replica.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import type { Transition } from '../../src/monitor/types.ts';
import type { InstanceStatus } from '../../src/supervisor/run-file.ts';
import { CLI, call, type RunningSystem, startSystem } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const SALES = 12;

const TOPOLOGY = `monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  sales-commands: {}
  sales-queries: { instances: 3, redundancy: { active: { policy: primary-backup } } }
routes:
  - { prefix: /api/vendedor, service: sales-commands, rewrite: /vendedor }
  - { prefix: /api/ventas, service: sales-queries, rewrite: /ventas, idempotent: true, tryTimeoutMs: 300 }
  - { prefix: /api/venta, service: sales-commands, rewrite: /venta, methods: [POST] }
  - { prefix: /api/venta, service: sales-queries, rewrite: /venta, methods: [GET, HEAD], idempotent: true, tryTimeoutMs: 300 }
  - { prefix: /api/vendedores, service: sales-queries, rewrite: /vendedores, idempotent: true, tryTimeoutMs: 300 }
`;

async function archlab(system: RunningSystem, ...args: string[]) {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--data', system.dataDir]);
  return stdout;
}

const statuses = async (system: RunningSystem) =>
  JSON.parse(await archlab(system, 'status', '--json')) as InstanceStatus[];
const statusOf = async (system: RunningSystem, name: string) => (await statuses(system)).find((i) => i.name === name)!;

/**
 * Runs `body` against a fresh system and stops the system before the test's after hooks run: those
 * run in registration order, and startSystem's removal of the data directory comes before its stop.
 */
async function withSystem(t: TestContext, body: (system: RunningSystem) => Promise<void>) {
  const file = path.join(tmpDir(t, 'archlab-topology-'), 'archlab.yaml');
  writeFileSync(file, TOPOLOGY);
  const system = await startSystem(t, { topology: file });
  try {
    await body(system);
  } finally {
    await system.stop();
  }
}

const ana = {
  nombre: 'Ana',
  apellido: 'Pérez',
  tipo_documento: 'CEDULA',
  numero_documento: '1020304',
  telefono: '3001234567',
};

const recordSale = (system: RunningSystem, seller: number, body: Record<string, unknown>) =>
  call(`${system.gateway}/api/venta/${seller}`, { body });

/** One seller and SALES sales; resolves when every replica has them all. */
async function seed(system: RunningSystem) {
  const created = await call(`${system.gateway}/api/vendedor`, { body: ana });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const seller = created.body.id as number;
  let seq = 0;
  for (let i = 1; i <= SALES; i++) {
    const res = await recordSale(system, seller, { producto: `producto-${i}`, cantidad: i, cliente: 'Tienda Sol' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    seq = res.body.seq;
  }
  await everyReplicaHas(system, seq, SALES);
  return { seller, seq };
}

async function everyReplicaHas(system: RunningSystem, seq: number, sales: number) {
  for (const replica of (await system.run()).instances.filter((i) => i.service === 'sales-queries')) {
    const res = await waitFor(async () => {
      const answer = await call(`${replica.url}/ventas?limit=500&minSeq=${seq}`);
      return answer.status === 200 ? answer : undefined;
    });
    assert.equal(res.body.length, sales, `${replica.name} has every accepted sale`);
  }
}

interface Read {
  status: number;
  count: number;
  instance: string | null;
  at: number;
}

/** Alternates the seed's two reads: the list and one sale. */
async function read(system: RunningSystem, n: number): Promise<Read> {
  const res =
    n % 2 === 0
      ? await call(`${system.gateway}/api/ventas?limit=500`)
      : await call(`${system.gateway}/api/venta/${1 + (n % SALES)}`);
  const count = Array.isArray(res.body) ? res.body.length : res.body?.id === 1 + (n % SALES) ? SALES : -1;
  return { status: res.status, count, instance: res.headers.get('x-archlab-instance'), at: Date.now() };
}

/** `clients` loops of `perClient` reads; `during` runs once, after the first client's `at`-th read. */
async function readLoop(system: RunningSystem, during: () => Promise<void>, clients = 4, perClient = 60, at = 15) {
  const reads: Read[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        if (client === 0 && i === at) await during();
        reads.push(await read(system, i));
      }
    }),
  );
  return reads;
}

function monitorEvents(system: RunningSystem): Transition[] {
  let text = '';
  try {
    text = readFileSync(path.join(system.dataDir, 'monitor', 'events.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Transition);
}

const servedBy = async (system: RunningSystem, instance: string) => (await read(system, 0)).instance === instance;

test('seed 002: every route through the gateway with the seed’s fields and messages; the switch endpoint needs the token', (t) =>
  withSystem(t, async (system) => {
    // Bodies reach the service (their gateway dropped them): the answer echoes what was sent.
    const created = await call(`${system.gateway}/api/vendedor`, { body: ana });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body, {
      message: 'Vendedor creado exitosamente',
      vendedor: { id: 1, ...ana },
      id: 1,
      seq: 1,
    });
    const twin = await call(`${system.gateway}/api/vendedor`, { body: { ...ana, numero_documento: '1.020.304' } });
    assert.deepEqual([twin.status, twin.body.error.code], [409, 'seller_document_taken']);
    const invalid = await call(`${system.gateway}/api/vendedor`, { body: { ...ana, tipo_documento: 'NIT' } });
    assert.deepEqual([invalid.status, invalid.body.error.code], [400, 'validation_failed']);

    const edited = await call(`${system.gateway}/api/vendedor/1`, {
      method: 'PUT',
      body: { ...ana, telefono: '6015550000' },
    });
    assert.equal(edited.status, 200);
    assert.deepEqual(edited.body, {
      message: 'Vendedor Editado',
      vendedor: { id: 1, ...ana, telefono: '6015550000' },
      seq: 2,
    });
    const unknown = await call(`${system.gateway}/api/vendedor/99`, { method: 'PUT', body: ana });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'seller_not_found']);

    const sale = await recordSale(system, 1, { producto: 'cafe', cantidad: 3, cliente: 'Tienda Sol' });
    assert.equal(sale.status, 201);
    assert.deepEqual(sale.body, { id: 1, producto: 'cafe', cantidad: 3, cliente: 'Tienda Sol', vendedor: 1, seq: 3 });
    assert.equal(
      sale.headers.get('x-archlab-instance'),
      'sales-commands-1',
      'POST /api/venta goes to the command side',
    );
    const noSeller = await recordSale(system, 99, { producto: 'cafe', cantidad: 3, cliente: 'x' });
    assert.deepEqual([noSeller.status, noSeller.body.error.code], [404, 'seller_not_found']);
    const zero = await recordSale(system, 1, { producto: 'cafe', cantidad: 0, cliente: 'x' });
    assert.deepEqual([zero.status, zero.body.error.code], [400, 'validation_failed']);

    const ventas = await call(`${system.gateway}/api/ventas?minSeq=3`);
    assert.equal(ventas.status, 200);
    assert.deepEqual(ventas.body, [{ id: 1, producto: 'cafe', cantidad: 3, cliente: 'Tienda Sol', vendedor: 1 }]);
    assert.equal(ventas.headers.get('x-archlab-instance'), 'sales-queries-1', 'the principal serves');
    assert.deepEqual((await call(`${system.gateway}/api/venta/1`)).body, ventas.body[0]);
    const unrouted = await call(`${system.gateway}/api/venta/1`, { method: 'DELETE' });
    assert.deepEqual([unrouted.status, unrouted.body.error.code], [404, 'route_not_found']);
    const missing = await call(`${system.gateway}/api/venta/2`);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'sale_not_found']);
    assert.deepEqual((await call(`${system.gateway}/api/vendedores/1`)).body, {
      id: 1,
      ...ana,
      telefono: '6015550000',
    });

    const kept = await call(`${system.gateway}/api/vendedor/1`, { method: 'DELETE' });
    assert.deepEqual([kept.status, kept.body.error.code], [409, 'seller_has_sales']);
    const luis = await call(`${system.gateway}/api/vendedor`, {
      body: { ...ana, nombre: 'Luis', tipo_documento: 'PASAPORTE', numero_documento: 'AB12345' },
    });
    const removed = await call(`${system.gateway}/api/vendedor/${luis.body.id}`, { method: 'DELETE' });
    assert.deepEqual(removed.body, { id: luis.body.id, seq: removed.body.seq });
    const sellers = await call(`${system.gateway}/api/vendedores?minSeq=${removed.body.seq}`);
    assert.deepEqual(
      sellers.body.map((s: { id: number }) => s.id),
      [1],
    );

    // The switch endpoint (their monitor's was open to anyone): no token, or a wrong one, changes nothing.
    const { gatewayAdmin } = await system.run();
    const switchTo = (headers: Record<string, string>) =>
      call(`${gatewayAdmin}/pools/members/sales-queries-1`, { method: 'PUT', body: { state: 'down' }, headers });
    for (const headers of [{}, { authorization: 'Bearer not-the-token' }] as Record<string, string>[]) {
      const refused = await switchTo(headers);
      assert.deepEqual([refused.status, refused.body.error.code], [401, 'unauthorized']);
    }
    const pools = await call(`${gatewayAdmin}/pools`, { headers: { authorization: `Bearer ${system.adminToken}` } });
    const members = (pools.body.pools as { members: { name: string; state: string }[] }[]).flatMap((p) => p.members);
    assert.equal(members.find((m) => m.name === 'sales-queries-1')!.state, 'healthy');
    assert.equal((await call(`${system.gateway}/api/ventas`)).headers.get('x-archlab-instance'), 'sales-queries-1');
  }));

test('seed 002 tactic: the principal replica killed under reads → zero client errors; restarted → fail-back after 2 echoes', (t) =>
  withSystem(t, async (system) => {
    const { seller } = await seed(system);
    await waitFor(() => servedBy(system, 'sales-queries-1'), { what: 'reads on the principal' });

    // Sales keep being recorded while the principal is down: none may go missing from any replica.
    let accepted = SALES;
    let lastSeq = 0;
    const reads = await readLoop(system, async () => {
      await archlab(system, 'fault', 'kill', 'sales-queries-1', '--hold');
      for (let i = 0; i < 3; i++) {
        const res = await recordSale(system, seller, { producto: 'durante', cantidad: 1, cliente: 'c' });
        assert.equal(res.status, 201);
        accepted += 1;
        lastSeq = res.body.seq;
      }
    });
    const wrong = reads.filter((r) => r.status !== 200 || r.count < SALES);
    assert.deepEqual(wrong, [], 'every read answered 200 with every sale (their clients saw 500s)');
    assert.ok(
      reads.some((r) => r.instance === 'sales-queries-2'),
      'replica 2 took over',
    );
    assert.ok(!reads.some((r) => r.instance === 'sales-queries-3'), 'primary-backup: replica 3 stayed idle');
    const down = await waitFor(
      () => monitorEvents(system).find((e) => e.instance === 'sales-queries-1' && e.to === 'down'),
      { what: 'the monitor DOWN event' },
    );
    t.diagnostic(`sales-queries-1 down: detected ${down.detectionMs} ms after the first missed echo`);

    const restartedAt = Date.now();
    await archlab(system, 'fault', 'restart', 'sales-queries-1');
    const back: Read[] = [];
    await waitFor(
      async () => {
        const r = await read(system, back.length);
        back.push(r);
        return r.instance === 'sales-queries-1';
      },
      { what: 'fail-back to the principal', timeoutMs: 15_000 },
    );
    assert.deepEqual(
      back.filter((r) => r.status !== 200),
      [],
      'no error while the principal came back',
    );
    // Hysteresis: back only once the monitor called it UP, and UP took successThreshold (2) answers.
    const up = monitorEvents(system).find(
      (e) => e.instance === 'sales-queries-1' && e.to === 'up' && Date.parse(e.time) >= restartedAt,
    );
    assert.ok(up !== undefined, 'the monitor called the principal UP again');
    assert.equal(up.count, 2);
    const firstBack = back.find((r) => r.instance === 'sales-queries-1')!;
    assert.ok(firstBack.at >= Date.parse(up.time), 'no read went to the principal before the monitor’s UP');

    // Seed 002's monitor log, in its own words.
    const log = await waitFor(() => {
      const text = readFileSync(path.join(system.dataDir, 'logs', 'monitor.txt'), 'utf8');
      return /Se cambio al servidor: \S+ \(sales-queries-2\)[\s\S]*Se cambio al servidor: \S+ \(sales-queries-1\)/.test(
        text,
      )
        ? text
        : undefined;
    });
    assert.match(log, /Server: http:\/\/127\.0\.0\.1:\d+ is down \(sales-queries-1\)/);
    assert.match(log, /Server: http:\/\/127\.0\.0\.1:\d+ is up \(sales-queries-1\)/);

    // Nothing accepted is lost: the restarted principal replayed the stream, like the other two.
    await everyReplicaHas(system, lastSeq, accepted);
  }));

test('seed 002 tactic: a hung principal (SIGSTOP) is masked per request, the monitor survives it; resume fails back', (t) =>
  withSystem(t, async (system) => {
    await seed(system);
    await waitFor(() => servedBy(system, 'sales-queries-1'), { what: 'reads on the principal' });
    const monitorBefore = await statusOf(system, 'monitor');

    const reads = await readLoop(system, async () => {
      await archlab(system, 'fault', 'hang', 'sales-queries-1');
    });
    assert.deepEqual(
      reads.filter((r) => r.status !== 200 || r.count < SALES),
      [],
      'reads caught on the hung principal were retried on replica 2 after tryTimeoutMs',
    );
    const down = await waitFor(
      () => monitorEvents(system).find((e) => e.instance === 'sales-queries-1' && e.to === 'down'),
      { what: 'the monitor DOWN event' },
    );
    assert.match(down.reason, /timeout|timed out/i, 'a silent replica is a miss, not an answer');
    assert.equal((await statusOf(system, 'sales-queries-1')).state, 'hung');
    // Their monitor crashed on a hung replica; this one keeps running and keeps deciding.
    const monitorNow = await statusOf(system, 'monitor');
    assert.equal(monitorNow.state, 'running');
    assert.equal(monitorNow.pid, monitorBefore.pid);
    assert.equal(monitorNow.restarts, monitorBefore.restarts);

    await archlab(system, 'fault', 'resume', 'sales-queries-1');
    await waitFor(() => servedBy(system, 'sales-queries-1'), { what: 'fail-back after resume', timeoutMs: 15_000 });
    assert.ok(
      monitorEvents(system).some((e) => e.instance === 'sales-queries-1' && e.to === 'up' && e.count === 2),
      'UP again after two answers',
    );
  }));
