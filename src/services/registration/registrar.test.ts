// The registrar's chain in one process, on an in-memory bus and store, through the same wiring as
// users-registrar (startRegistrar) and the same request/reply status lookup as registration-commands.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import type { Bus, StreamEvent } from '../../bus/bus.ts';
import { createBus } from '../../bus/create-bus.ts';
import { isAppError } from '../../kit/errors.ts';
import { createLogger } from '../../kit/logger.ts';
import { createStore } from '../../store/create-store.ts';
import { outboxMigrations, startOutboxRelay } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import { expectedRegistrar, Queues, type RegistrationJob, registrationJobId } from './chain.ts';
import { loadRegistrationConfig } from './config.ts';
import { REGISTRATION_EVENTS_STREAM } from './events.ts';
import type { FailureFlags } from './flags.ts';
import type { RegistrationStatus } from './queries.ts';
import { startRequester } from './request-reply.ts';
import { registrarMigrations, startRegistrar } from './worker.ts';

const log = createLogger({ level: 'silent' });
const settings = {
  REGISTRATION_REPLAY_DELAY_MS: '0',
  REGISTRATION_REPLAY_BACKOFF_BASE_MS: '10',
  REGISTRATION_LEASE_MS: '1000',
};

async function registrar(
  t: TestContext,
  { wrap = (store: Store) => store, env = {} }: { wrap?: (store: Store) => Store; env?: Record<string, string> } = {},
) {
  const config = loadRegistrationConfig({ ...settings, ...env });
  const bus = await createBus('sqlite::memory:', { pollIntervalMs: 5 });
  const store = await createStore('sqlite::memory:', { name: 'users-registrar' });
  await store.migrate([...outboxMigrations, ...registrarMigrations]);
  const relay = startOutboxRelay({ store, bus, log, pollIntervalMs: 20 });
  const worker = startRegistrar({
    bus,
    store: wrap(store),
    instance: 'users-registrar-1',
    log,
    config,
    committed: relay.notify,
  });
  const requester = startRequester(bus, { replyQueue: 'registration.replies.test', log });
  t.after(async () => {
    await requester.close();
    await worker.close();
    await relay.close();
    await bus.close();
    await store.close();
  });
  const submit = (email: string, flags: Partial<FailureFlags> = {}, failureUuid: string | null = null) => {
    const job: RegistrationJob = {
      email,
      flags: { principal: false, redundancy1: false, redundancy2: false, ...flags },
      failureUuid,
      receivedAt: Date.now(),
    };
    return bus.enqueue(Queues.PRINCIPAL, job, { id: registrationJobId(email.toLowerCase(), failureUuid) });
  };
  const status = (email: string) =>
    requester.request<RegistrationStatus>(Queues.QUERIES, { email }, { timeoutMs: 2000 });
  const registered = (email: string) =>
    waitFor(
      async () => {
        const s = await status(email).catch(() => undefined);
        return s?.state === 'registered' ? s : undefined;
      },
      { what: `${email} registered` },
    );
  return { bus, store, relay, submit, status, registered };
}

async function eventsFor(bus: Bus, email: string): Promise<StreamEvent[]> {
  const events = await bus.read(REGISTRATION_EVENTS_STREAM, { after: 0, limit: 100_000 });
  return events.filter((e) => (e.data as { email: string }).email === email);
}

test('every flag combination is registered exactly once, by the first component whose flag is unset', async (t) => {
  const { bus, store, submit, registered } = await registrar(t);
  const combos = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => ({
    email: `combo${n}@example.com`,
    flags: { principal: (n & 1) !== 0, redundancy1: (n & 2) !== 0, redundancy2: (n & 4) !== 0 },
  }));
  for (const { email, flags } of combos) await submit(email, flags, `uuid-${email}`);
  for (const { email, flags } of combos) {
    const status = await registered(email);
    assert.equal(status.registeredBy, expectedRegistrar(flags), email);
    const tried = ['principal', 'redundancy1', 'redundancy2', 'failure-replay'].indexOf(status.registeredBy!) + 1;
    assert.equal(status.attempts, tried, `${email}: one attempt per component up to the one that registered`);
  }
  const rows = await store.query<{ email: string; n: number }>(
    'SELECT email, COUNT(*) AS n FROM registered_users GROUP BY email',
  );
  assert.equal(rows.length, 8);
  assert.ok(rows.every((row) => Number(row.n) === 1));

  // The all-flags job's hops, in the event log's words.
  const all = 'combo7@example.com';
  const events = await waitFor(async () => {
    const list = await eventsFor(bus, all);
    return list.some((e) => e.type === 'registration.registered') ? list : undefined;
  });
  assert.deepEqual(
    events.map((e) => [e.type, (e.data as { component?: string }).component ?? '']),
    [
      ['registration.received', ''],
      ['registration.attempted', 'principal'],
      ['registration.failed', 'principal'],
      ['registration.attempted', 'redundancy1'],
      ['registration.failed', 'redundancy1'],
      ['registration.attempted', 'redundancy2'],
      ['registration.failed', 'redundancy2'],
      ['registration.failure-logged', ''],
      ['registration.attempted', 'failure-replay'],
      ['registration.registered', 'failure-replay'],
    ],
  );
  const logged = events.find((e) => e.type === 'registration.failure-logged')!.data as Record<string, unknown>;
  assert.equal(logged.failureUuid, `uuid-${all}`);
  assert.deepEqual(logged.from, [Queues.PRINCIPAL, Queues.REDUNDANCY1, Queues.REDUNDANCY2]);
  assert.equal((await bus.counts(Queues.REPLAY)).done, 1);
});

test('a simulated failure fires once per failure_uuid and stage', async (t) => {
  const { submit, registered } = await registrar(t);
  await submit('first@example.com', { principal: true }, 'shared-uuid');
  assert.equal((await registered('first@example.com')).registeredBy, 'redundancy1');
  // Another registration carrying the same uuid: principal's failure for it has already fired.
  await submit('second@example.com', { principal: true }, 'shared-uuid');
  assert.equal((await registered('second@example.com')).registeredBy, 'principal');
});

test('the same email twice (other uuids, other case) → registered once, the rest are duplicates', async (t) => {
  const { bus, store, submit, registered } = await registrar(t);
  await Promise.all(
    Array.from({ length: 6 }, (_, i) => submit(i % 2 ? 'Twin@Example.com' : 'twin@example.com', {}, `twin-${i}`)),
  );
  // And one without a uuid, sent twice: the second enqueue is a no-op.
  assert.equal((await submit('twin@example.com')).enqueued, true);
  assert.equal((await submit('twin@example.com')).enqueued, false);
  await registered('twin@example.com');
  await waitFor(async () => (await bus.counts(Queues.PRINCIPAL)).done === 7, { what: 'all seven jobs done' });
  const [row] = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM registered_users');
  assert.equal(Number(row!.n), 1);
  const events = await waitFor(async () => {
    const list = [...(await eventsFor(bus, 'twin@example.com')), ...(await eventsFor(bus, 'Twin@Example.com'))];
    return list.filter((e) => e.type === 'registration.duplicate').length === 6 ? list : undefined;
  });
  assert.equal(events.filter((e) => e.type === 'registration.registered').length, 1);
});

test('a real error fails the stage like a flag: the next component registers, the failure is in the log', async (t) => {
  let failing = true;
  // A store whose first registration transaction fails (as if the database refused it).
  const { bus, submit, registered } = await registrar(t, {
    wrap: (store) => ({
      dialect: store.dialect,
      name: store.name,
      query: (sql, params) => store.query(sql, params),
      execute: (sql, params) => store.execute(sql, params),
      migrate: (migrations) => store.migrate(migrations),
      close: () => store.close(),
      transaction: (fn) => {
        if (failing) {
          failing = false;
          return Promise.reject(new Error('database is locked'));
        }
        return store.transaction(fn);
      },
    }),
  });
  await submit('flaky@example.com');
  assert.equal((await registered('flaky@example.com')).registeredBy, 'redundancy1');
  const failed = await waitFor(async () =>
    (await eventsFor(bus, 'flaky@example.com')).find((e) => e.type === 'registration.failed'),
  );
  assert.deepEqual(
    { ...(failed.data as object) },
    {
      jobId: registrationJobId('flaky@example.com', null),
      email: 'flaky@example.com',
      failureUuid: null,
      component: 'principal',
      instance: 'users-registrar-1',
      reason: 'error',
      error: 'database is locked',
    },
  );
});

test('status over the query queue: received while the job waits for its replay', async (t) => {
  const { bus, status, submit } = await registrar(t, { env: { REGISTRATION_REPLAY_DELAY_MS: '600000' } });
  await submit('waiting@example.com', { principal: true, redundancy1: true, redundancy2: true }, 'w-uuid');
  await waitFor(async () => (await bus.counts(Queues.REPLAY)).delayed === 1, { what: 'the replay to be scheduled' });
  assert.deepEqual(await status('waiting@example.com'), {
    email: 'waiting@example.com',
    state: 'received',
    registeredBy: null,
    attempts: 3,
    registeredAt: null,
  });
});

test('status over the query queue: registered after the replay, 404 when unknown', async (t) => {
  const { status, submit, registered } = await registrar(t);
  await assert.rejects(
    status('nobody@example.com'),
    (error) => isAppError(error) && error.status === 404 && error.code === 'registration_not_found',
  );
  await submit('late@example.com', { principal: true, redundancy1: true, redundancy2: true }, 'late-uuid');
  const done = await registered('late@example.com');
  assert.deepEqual(
    { ...done, registeredAt: typeof done.registeredAt },
    {
      email: 'late@example.com',
      state: 'registered',
      registeredBy: 'failure-replay',
      attempts: 4,
      registeredAt: 'string',
    },
  );
});
