// Active and passive redundancy through `archlab up`: real supervisor, monitor, gateway and service
// processes; faults through the real CLI (`archlab fault …`), which goes through the supervisor's
// admin port. Reads are a bounded client loop; every answer is checked.
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
const MONITOR = 'monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }';
const USERS = 20;

async function archlab(system: RunningSystem, ...args: string[]) {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--data', system.dataDir]);
  return stdout;
}

async function startWith(t: TestContext, queries: string): Promise<RunningSystem> {
  const dir = tmpDir(t, 'archlab-topology-');
  const file = path.join(dir, 'archlab.yaml');
  writeFileSync(
    file,
    `${MONITOR}
services:
  users-commands: {}
  users-queries: ${queries}
routes:
  - { prefix: /api-commands/users, service: users-commands }
  - { prefix: /api-queries/users, service: users-queries, idempotent: true, tryTimeoutMs: 300 }
`,
  );
  return startSystem(t, { topology: file });
}

/** Registers USERS users; resolves to the last event's seq. */
async function register(system: RunningSystem): Promise<number> {
  let seq = 0;
  for (let i = 0; i < USERS; i++) {
    const res = await call(`${system.gateway}/api-commands/users`, {
      body: { email: `u${i}-${process.pid}@example.com`, password: 'pw' },
    });
    assert.equal(res.status, 201);
    seq = res.body.seq;
  }
  return seq;
}

interface Read {
  status: number;
  count: number;
  instance: string | null;
}

async function read(system: RunningSystem): Promise<Read> {
  const res = await call(`${system.gateway}/api-queries/users?limit=500`);
  return {
    status: res.status,
    count: Array.isArray(res.body) ? res.body.length : -1,
    instance: res.headers.get('x-archlab-instance'),
  };
}

/** `clients` loops of `perClient` reads; `during` runs once, after the first client's `at`-th read. */
async function readLoop(system: RunningSystem, during: () => Promise<void>, clients = 4, perClient = 60, at = 15) {
  const reads: Read[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        if (client === 0 && i === at) await during();
        reads.push(await read(system));
      }
    }),
  );
  return reads;
}

function monitorEvents(system: RunningSystem): Transition[] {
  const file = path.join(system.dataDir, 'monitor', 'events.jsonl');
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Transition);
}

const statusOf = async (system: RunningSystem, name: string) =>
  (JSON.parse(await archlab(system, 'status', '--json')) as InstanceStatus[]).find((i) => i.name === name)!;

test('active trio: the serving primary SIGKILLed under reads → zero client errors, DOWN event, fail-back after restart', async (t) => {
  const system = await startWith(t, '{ instances: 3, redundancy: { active: { policy: primary-backup } } }');
  const seq = await register(system);
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status === 200);
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', { what: 'reads on the primary' });

  const reads = await readLoop(system, async () => {
    await archlab(system, 'fault', 'kill', 'users-queries-1', '--hold');
  });
  assert.deepEqual(
    reads.filter((r) => r.status !== 200 || r.count !== USERS),
    [],
    'every read answered 200 with every user',
  );
  assert.ok(
    reads.some((r) => r.instance === 'users-queries-2'),
    'the first backup took over',
  );
  assert.ok(!reads.some((r) => r.instance === 'users-queries-3'), 'primary-backup: the second backup stayed idle');
  const down = await waitFor(
    () => monitorEvents(system).find((e) => e.instance === 'users-queries-1' && e.to === 'down'),
    { what: 'the monitor DOWN event' },
  );
  assert.equal(down.count, 2);
  t.diagnostic(`monitor: users-queries-1 down, detection ${down.detectionMs} ms after the first missed echo`);
  assert.equal((await statusOf(system, 'users-queries-1')).state, 'held');

  await archlab(system, 'fault', 'restart', 'users-queries-1');
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', {
    what: 'fail-back to the primary',
    timeoutMs: 15_000,
  });
  // Back up after the DOWN (directly, or through syncing while its read model caught up).
  const events = monitorEvents(system).filter((e) => e.instance === 'users-queries-1');
  const downAt = events.findIndex((e) => e.to === 'down');
  assert.ok(
    events.slice(downAt + 1).some((e) => e.to === 'up'),
    JSON.stringify(events),
  );
  const status = await statusOf(system, 'users-queries-1');
  assert.equal(status.state, 'running');
  assert.equal(status.health, 'up');
  // Seed 002's monitor log, in its own words.
  const text = await waitFor(() => {
    const log = readFileSync(path.join(system.dataDir, 'logs', 'monitor.txt'), 'utf8');
    return /Se cambio al servidor: \S+ \(users-queries-1\)[\s\S]*Se cambio al servidor: \S+ \(users-queries-2\)[\s\S]*Se cambio al servidor: \S+ \(users-queries-1\)/.test(
      log,
    )
      ? log
      : undefined;
  });
  assert.match(text, /Server: http:\/\/127\.0\.0\.1:\d+ is down \(users-queries-1\)/);
});

test('active trio: a hung primary (SIGSTOP) is detected by the monitor and masked; resume fails back', async (t) => {
  const system = await startWith(t, '{ instances: 3, redundancy: { active: { policy: primary-backup } } }');
  const seq = await register(system);
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status === 200);
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', { what: 'reads on the primary' });

  let hungAt = 0;
  const reads = await readLoop(system, async () => {
    hungAt = Date.now();
    await archlab(system, 'fault', 'hang', 'users-queries-1');
  });
  assert.deepEqual(
    reads.filter((r) => r.status !== 200 || r.count !== USERS),
    [],
    'reads caught on the hung primary were retried elsewhere after tryTimeoutMs',
  );
  const down = await waitFor(
    () => monitorEvents(system).find((e) => e.instance === 'users-queries-1' && e.to === 'down'),
    { what: 'the monitor DOWN event' },
  );
  assert.ok(Date.parse(down.firstMissAt!) >= hungAt - 100, 'the first missed echo came after the hang');
  assert.match(down.reason, /timeout|timed out/i);
  t.diagnostic(
    `hang → DOWN ${Date.parse(down.time) - hungAt} ms (bound interval × threshold + timeout = 250 ms; measured properly by npm run bench -- failover)`,
  );
  assert.equal((await statusOf(system, 'users-queries-1')).state, 'hung');

  await archlab(system, 'fault', 'resume', 'users-queries-1');
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', {
    what: 'fail-back after resume',
    timeoutMs: 15_000,
  });
});

test('passive cold spare: primary SIGKILLed → spare resyncs before serving, never an empty read; fail-back, spare stops', async (t) => {
  const system = await startWith(t, '{ redundancy: { passive: { spares: 1, mode: cold } } }');
  const seq = await register(system);
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status === 200);
  assert.equal((await statusOf(system, 'users-queries-spare-1')).state, 'standby');

  const spareUrl = (await system.run()).instances.find((i) => i.name === 'users-queries-spare-1')!.url;
  // Watch the spare's own health while it starts: it may say ready only at the primary's position.
  const healths: { ready: boolean; position: number | null }[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const res = await fetch(`${spareUrl}/health`).catch(() => undefined);
      if (res !== undefined) healths.push((await res.json()) as { ready: boolean; position: number | null });
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();

  const reads = await readLoop(
    system,
    async () => {
      await archlab(system, 'fault', 'kill', 'users-queries-1', '--hold');
    },
    2,
    400,
    20,
  );
  await waitFor(async () => (await read(system)).instance === 'users-queries-spare-1', {
    what: 'the spare to serve',
    timeoutMs: 15_000,
  });
  watching = false;
  await watcher;

  const served = reads.filter((r) => r.status === 200);
  assert.deepEqual(
    served.filter((r) => r.count !== USERS),
    [],
    'no read was served from an empty or partial read model',
  );
  // Passive redundancy has a gap (detection + spare start + resync): the reads in it fail fast with
  // 502 (the request that found the primary dead) or 503 no_instance, and are never wrong.
  assert.ok(
    reads.every((r) => [200, 502, 503].includes(r.status)),
    `only 502/503 in the gap: ${[...new Set(reads.map((r) => r.status))]}`,
  );
  t.diagnostic(`${reads.length - served.length} of ${reads.length} reads fell in the fail-over gap`);
  assert.ok(healths.length > 0, 'the spare answered /health');
  for (const health of healths.filter((h) => h.ready))
    assert.ok(health.position! >= seq, `ready at ${health.position}`);
  assert.ok(
    monitorEvents(system).some((e) => e.instance === 'users-queries-1' && e.to === 'down'),
    'the monitor reported the primary down',
  );
  assert.equal((await statusOf(system, 'users-queries-spare-1')).state, 'running');

  await archlab(system, 'fault', 'restart', 'users-queries-1');
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', {
    what: 'fail-back to the primary',
    timeoutMs: 15_000,
  });
  await waitFor(async () => (await statusOf(system, 'users-queries-spare-1')).state === 'standby', {
    what: 'the cold spare to stop',
    timeoutMs: 15_000,
  });
});

test('with the monitor down the gateway still masks a crash (passive ejection); the monitor back resyncs its view', async (t) => {
  const system = await startWith(t, '{ instances: 3, redundancy: { active: { policy: primary-backup } } }');
  const seq = await register(system);
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status === 200);
  await archlab(system, 'fault', 'kill', 'monitor', '--hold');

  const reads = await readLoop(system, async () => {
    await archlab(system, 'fault', 'kill', 'users-queries-1', '--hold');
  });
  assert.deepEqual(
    reads.filter((r) => r.status !== 200 || r.count !== USERS),
    [],
    'passive detection alone masked the crash',
  );
  const { gatewayAdmin } = await system.run();
  const member = async () => {
    const res = await call(`${gatewayAdmin}/pools`, { headers: { authorization: `Bearer ${system.adminToken}` } });
    const pools = res.body.pools as { members: { name: string; state: string; reason: string }[] }[];
    return pools.flatMap((p) => p.members).find((m) => m.name === 'users-queries-1')!;
  };
  assert.equal((await member()).state, 'ejected');

  await archlab(system, 'fault', 'restart', 'monitor');
  const fed = await waitFor(
    async () => {
      const m = await member();
      return m.state === 'down' && m.reason.startsWith('monitor') ? m : undefined;
    },
    { what: 'the gateway to take the returning monitor’s view', timeoutMs: 15_000 },
  );
  assert.match(fed.reason, /monitor/);
});

test('passive warm spare: it follows the stream all along, so the primary’s crash is masked at once', async (t) => {
  const system = await startWith(t, '{ redundancy: { passive: { spares: 1, mode: warm } } }');
  const seq = await register(system);
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status === 200);
  await waitFor(async () => (await statusOf(system, 'users-queries-spare-1')).health === 'up', {
    what: 'the warm spare to be up',
  });
  const before = await readLoop(system, async () => {}, 1, 20);
  assert.ok(
    before.every((r) => r.instance === 'users-queries-1'),
    'no traffic to the spare while the primary is up',
  );

  const reads = await readLoop(system, async () => {
    await archlab(system, 'fault', 'kill', 'users-queries-1', '--hold');
  });
  assert.deepEqual(
    reads.filter((r) => r.status !== 200 || r.count !== USERS),
    [],
    'the warm spare took over without a gap',
  );
  assert.ok(reads.some((r) => r.instance === 'users-queries-spare-1'));
  await archlab(system, 'fault', 'restart', 'users-queries-1');
  await waitFor(async () => (await read(system)).instance === 'users-queries-1', {
    what: 'fail-back to the primary',
    timeoutMs: 15_000,
  });
  assert.equal((await statusOf(system, 'users-queries-spare-1')).state, 'running', 'a warm spare keeps running');
});
