// Seed 000: user registration through redundancy queues. Its routes, fields and messages through the
// gateway; its tactic (principal → redundancy 1 → redundancy 2 → failure log, replayed later) with
// every flag combination; none of its bugs: "False" is false, a repeat registers once, the failure
// path loses nothing, a worker SIGKILLed mid-chain loses nothing; the status lookup over the query queue.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import type { Bus } from '../../src/bus/bus.ts';
import { createBus } from '../../src/bus/create-bus.ts';
import { expectedRegistrar } from '../../src/services/registration/chain.ts';
import type { FailureFlags } from '../../src/services/registration/flags.ts';
import { createStore } from '../../src/store/create-store.ts';
import type { Store } from '../../src/store/store.ts';
import { CLI, call, type RunningSystem, startSystem } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const RECEIVED = 'Email received successfully';
const RECEIVED_LATE =
  'Email received successfully. We are experiencing latencies but we received your email and we will register you.';

async function archlab(system: RunningSystem, ...args: string[]) {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--data', system.dataDir]);
  return stdout;
}

interface Seed000 {
  system: RunningSystem;
  bus: Bus;
  store: Store;
  register(body: Record<string, unknown>): Promise<{ status: number; body: any }>;
  status(email: string): Promise<{ status: number; body: any }>;
  registered(email: string, timeoutMs?: number): Promise<{ registeredBy: string; attempts: number }>;
  /** `registration.registered` events per email, from the event log. */
  registeredEvents(): Promise<Map<string, number>>;
}

async function start(t: TestContext): Promise<Seed000> {
  const file = path.join(tmpDir(t, 'archlab-topology-'), 'archlab.yaml');
  writeFileSync(
    file,
    `monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  registration-commands:
    env: { REGISTRATION_QUERY_TIMEOUT_MS: "1000" }
  users-registrar:
    env: { REGISTRATION_LEASE_MS: "1000", REGISTRATION_REPLAY_DELAY_MS: "300", REGISTRATION_REPLAY_BACKOFF_BASE_MS: "100" }
routes:
  - { prefix: /api/v1/users, service: registration-commands }
  - { prefix: /ping, service: registration-commands }
`,
  );
  const system = await startSystem(t, { topology: file });
  const bus = await createBus(`sqlite:${path.join(system.dataDir, 'bus.db')}`);
  const store = await createStore(`sqlite:${system.dataDir}`, { name: 'users-registrar' });
  t.after(async () => {
    await bus.close();
    await store.close();
  });
  const status = (email: string) => call(`${system.gateway}/api/v1/users/status?email=${encodeURIComponent(email)}`);
  return {
    system,
    bus,
    store,
    register: (body) => call(`${system.gateway}/api/v1/users`, { body }),
    status,
    registered: (email, timeoutMs = 15_000) =>
      waitFor(
        async () => {
          const res = await status(email);
          return res.status === 200 && res.body.state === 'registered' ? res.body : undefined;
        },
        { what: `${email} registered`, timeoutMs },
      ),
    async registeredEvents() {
      const events = await bus.read('registration.events', { after: 0, limit: 1_000_000 });
      const counts = new Map<string, number>();
      for (const e of events.filter((e) => e.type === 'registration.registered')) {
        const email = (e.data as { email: string }).email.toLowerCase();
        counts.set(email, (counts.get(email) ?? 0) + 1);
      }
      return counts;
    },
  };
}

const combos: FailureFlags[] = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => ({
  principal: (n & 1) !== 0,
  redundancy1: (n & 2) !== 0,
  redundancy2: (n & 4) !== 0,
}));
const seedFlags = (flags: FailureFlags) => ({
  simulate_failure: flags.principal,
  simulate_failure_r1: flags.redundancy1,
  simulate_failure_r2: flags.redundancy2,
});

/** One row per email in the registrar's user table, whatever happened. */
async function assertRegisteredOnce(seed: Seed000, emails: string[]) {
  const rows = await seed.store.query<{ email_key: string }>('SELECT email_key FROM registered_users');
  const keys = rows.map((r) => r.email_key);
  assert.equal(new Set(keys).size, keys.length);
  for (const email of emails) assert.ok(keys.includes(email.toLowerCase()), `${email} is registered`);
  const events = await waitFor(
    async () => {
      const counts = await seed.registeredEvents();
      return emails.every((e) => counts.has(e.toLowerCase())) ? counts : undefined;
    },
    { what: 'every registered event relayed' },
  );
  for (const email of emails) assert.equal(events.get(email.toLowerCase()), 1, `${email}: one registered event`);
}

test('seed 000: registration, every failure-flag combination, duplicates, boolean flags, pings, status over the query queue', async (t) => {
  const seed = await start(t);
  const tag = `${process.pid}-${Date.now().toString(36)}`;

  // The happy path, in the seed's words; 202: registered later, by the worker.
  const ada = `ada-${tag}@example.com`;
  const accepted = await seed.register({ email: ada });
  assert.equal(accepted.status, 202);
  assert.deepEqual(accepted.body, { status: 'success', message: RECEIVED });
  const adaStatus = await seed.registered(ada);
  assert.equal(adaStatus.registeredBy, 'principal');
  assert.equal(adaStatus.attempts, 1);

  // Every combination of the three flags ends registered once, by the first component whose flag is
  // unset; all three → the latency message, and the failure log's replay registers it.
  const chain = combos.map((flags, n) => ({ email: `combo${n}-${tag}@example.com`, flags }));
  for (const { email, flags } of chain) {
    const res = await seed.register({ email, ...seedFlags(flags), failure_uuid: `uuid-${n(email)}` });
    assert.equal(res.status, 202);
    assert.equal(res.body.message, Object.values(flags).every(Boolean) ? RECEIVED_LATE : RECEIVED, email);
  }
  for (const { email, flags } of chain) {
    assert.equal((await seed.registered(email)).registeredBy, expectedRegistrar(flags), email);
  }
  const replayed = chain.at(-1)!.email;
  const [logged] = await seed.store.query<{ failure_uuid: string; logged_at: number; replayed_at: number }>(
    'SELECT failure_uuid, logged_at, replayed_at FROM failure_log WHERE email = $1',
    [replayed],
  );
  assert.equal(logged?.failure_uuid, `uuid-${n(replayed)}`, 'the failure log keeps the uuid');
  assert.ok(logged!.replayed_at >= logged!.logged_at, 'and when it was replayed');

  // The same email again and again (the seed had no idempotency): registered once.
  const twin = `twin-${tag}@example.com`;
  const twins = await Promise.all([
    ...Array.from({ length: 8 }, () => seed.register({ email: twin })),
    ...Array.from({ length: 3 }, (_, i) => seed.register({ email: twin.toUpperCase(), failure_uuid: `twin-${i}` })),
  ]);
  assert.ok(twins.every((r) => r.status === 202));
  await seed.registered(twin);

  // "False", "0", "" and false are false (the seed's bool("False") was true).
  const falsy = `falsy-${tag}@example.com`;
  const falsyRes = await seed.register({
    email: falsy,
    simulate_failure: 'False',
    simulate_failure_r1: '0',
    simulate_failure_r2: '',
  });
  assert.equal(falsyRes.body.message, RECEIVED);
  assert.equal((await seed.registered(falsy)).registeredBy, 'principal');

  // Bad input answers 4xx and queues nothing.
  const missing = await seed.register({ simulate_failure: true });
  assert.equal(missing.status, 400);
  const maybe = await seed.register({ email: `maybe-${tag}@example.com`, simulate_failure: 'maybe' });
  assert.equal(maybe.status, 400);
  assert.equal(maybe.body.error.code, 'invalid_failure_flag');
  assert.equal((await seed.status(`maybe-${tag}@example.com`)).status, 404);

  // Status over the query queue: unknown → 404; a bad email → 400.
  const unknown = await seed.status(`nobody-${tag}@example.com`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'registration_not_found');
  assert.equal((await seed.status('not-an-email')).status, 400);

  // Ping and the ping logs.
  const echo = await call(`${seed.system.gateway}/ping`);
  assert.equal(echo.status, 200);
  assert.equal(echo.body.message, 'Echo');
  assert.equal(echo.body.status, 'success');
  assert.ok(echo.body.ping_id && !Number.isNaN(Date.parse(echo.body.ping_datetime)));
  const falsePing = await call(
    `${seed.system.gateway}/ping?simulate_failure=False&simulate_failure_r1=0&simulate_failure_r2`,
  );
  assert.equal(falsePing.body.message, 'Echo');
  const failedPing = await call(
    `${seed.system.gateway}/ping?simulate_failure=true&simulate_failure_r1=true&simulate_failure_r2=true`,
  );
  assert.equal(failedPing.status, 200);
  assert.equal(failedPing.body.message, 'Ping failure received.');
  const pings = (await seed.bus.read('registration.pings', { after: 0 })).map((e) => e.id);
  assert.deepEqual(pings, [echo.body.ping_id, falsePing.body.ping_id, failedPing.body.ping_id]);
  const pingFailures = await seed.bus.read('registration.ping-failures', { after: 0 });
  assert.deepEqual(
    pingFailures.map((e) => e.id),
    [failedPing.body.ping_id],
  );

  await assertRegisteredOnce(seed, [ada, ...chain.map((c) => c.email), twin, falsy]);
  const [count] = await seed.store.query<{ n: number }>('SELECT COUNT(*) AS n FROM registered_users');
  assert.equal(Number(count!.n), 11, 'nothing else was registered (not the refused requests)');
});

test('seed 000: the worker SIGKILLed mid-chain loses nothing; while it is down registrations are still accepted and the status lookup times out (504)', async (t) => {
  const seed = await start(t);
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const worker = (await seed.system.run()).instances.find((i) => i.name === 'users-registrar-1')!;
  const admin = { authorization: `Bearer ${seed.system.adminToken}` };

  // Jobs that failed at principal stall in redundancy1 (leased, nothing written) until the kill.
  const stall = await call(`${worker.url}/_admin/faults/registration.stall-at`, {
    method: 'PUT',
    body: { value: 'redundancy1' },
    headers: admin,
  });
  assert.equal(stall.status, 200);
  const stalled = Array.from({ length: 8 }, (_, i) => `stalled${i}-${tag}@example.com`);
  for (const email of stalled) {
    assert.equal((await seed.register({ email, simulate_failure: true })).status, 202);
  }
  const inFlight = await waitFor(
    async () => {
      const counts = await seed.bus.counts('registration.redundancy1');
      return counts.leased === 4 && counts.waiting === 4 ? counts.leased : undefined;
    },
    { what: 'four jobs leased mid-stage (REGISTRATION_CONCURRENCY 4), four waiting' },
  );

  // Registrations keep arriving while the worker is killed (the supervisor restarts it, without the fault).
  const more = Array.from({ length: 16 }, (_, i) => ({
    email: `more${i}-${tag}@example.com`,
    flags: combos[i % combos.length]!,
  }));
  await Promise.all(
    [0, 1, 2, 3].map(async (client) => {
      for (let i = client; i < more.length; i += 4) {
        if (client === 0 && i === 4) await archlab(seed.system, 'fault', 'kill', 'users-registrar-1');
        const { email, flags } = more[i]!;
        const res = await seed.register({ email, ...seedFlags(flags), failure_uuid: `more-${i}` });
        assert.equal(res.status, 202, email);
      }
    }),
  );
  const by = new Map<string, number>();
  for (const email of stalled) {
    const { registeredBy } = await seed.registered(email, 30_000);
    by.set(registeredBy, (by.get(registeredBy) ?? 0) + 1);
  }
  // The jobs killed mid-stage moved on once their lease expired; the waiting ones ran there as planned.
  assert.deepEqual(Object.fromEntries(by), { redundancy2: inFlight, redundancy1: stalled.length - inFlight });
  // A job the kill caught mid-stage moves on: registered by its planned component or a later one.
  const order = ['principal', 'redundancy1', 'redundancy2', 'failure-replay'];
  for (const { email, flags } of more) {
    const { registeredBy } = await seed.registered(email, 30_000);
    assert.ok(order.indexOf(registeredBy) >= order.indexOf(expectedRegistrar(flags)), `${email}: ${registeredBy}`);
  }
  await assertRegisteredOnce(seed, [...stalled, ...more.map((m) => m.email)]);

  // Held down: registrations are still accepted (durable on the bus), the status query gets no answer.
  await archlab(seed.system, 'fault', 'kill', 'users-registrar-1', '--hold');
  const waiting = `waiting-${tag}@example.com`;
  const accepted = await seed.register({ email: waiting });
  assert.equal(accepted.status, 202);
  const timeout = await seed.status(waiting);
  assert.equal(timeout.status, 504);
  assert.equal(timeout.body.error.code, 'reply_timeout');
  await archlab(seed.system, 'fault', 'restart', 'users-registrar-1');
  assert.equal((await seed.registered(waiting, 30_000)).registeredBy, 'principal');
  await assertRegisteredOnce(seed, [waiting]);
});

/** The unique part of a test email, for its uuid. */
function n(email: string) {
  return email.split('@')[0]!;
}
