// The walking skeleton end to end: `archlab up` as a real supervisor, every role its own OS process,
// all traffic through the gateway. Runs on the embedded SQLite defaults and again on PostgreSQL.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createBus } from '../../src/bus/create-bus.ts';
import { createStore } from '../../src/store/create-store.ts';
import { admin, dropSchemas, schemasUnder } from '../helpers/postgres.ts';
import { deleteKeys } from '../helpers/redis.ts';
import { needPostgres, needRedis, POSTGRES_URL, REDIS_URL } from '../helpers/services.ts';
import { call, isAlive, startSystem } from '../helpers/system.ts';
import { uniqueName } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const USERS_TOPOLOGY = new URL('../fixtures/users.yaml', import.meta.url).pathname;

const email = () => `u-${randomUUID().slice(0, 8)}@example.com`;

const PASSWORD = 'correct horse battery staple';

async function walkRegistration(gateway: string, dataDir: string, busUrl = `sqlite:${path.join(dataDir, 'bus.db')}`) {
  const address = email();
  const traceId = randomBytes(16).toString('hex');
  const created = await call(`${gateway}/api-commands/users`, {
    body: { email: address, password: PASSWORD, name: 'Ada' },
    headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.email, address);
  assert.equal(typeof created.body.id, 'string');
  assert.ok(Number.isInteger(created.body.seq) && created.body.seq >= 1);
  assert.equal(created.body.password, undefined);

  const again = await call(`${gateway}/api-commands/users`, { body: { email: address.toUpperCase(), password: 'x' } });
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'email_taken');

  const bad = await call(`${gateway}/api-commands/users`, { body: { email: 'not-an-email', password: 'x' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'invalid_email');

  const missing = await call(`${gateway}/api-commands/users`, { body: { email: email() } });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.code, 'validation_failed');

  const read = await call(`${gateway}/api-queries/users/${created.body.id}?minSeq=${created.body.seq}`);
  assert.equal(read.status, 200);
  assert.equal(read.body.email, address);
  assert.equal(read.body.name, 'Ada');
  assert.equal(read.body.registeredBy, 'users-commands-1');
  assert.ok(!JSON.stringify(read.body).toLowerCase().includes('password'), 'no password field in the read model');
  assert.ok(Number(read.headers.get('x-read-model-position')) >= created.body.seq);

  const check = await call(
    `${gateway}/api-queries/users/check?email=${encodeURIComponent(address)}&minSeq=${created.body.seq}`,
  );
  assert.deepEqual(check.body, { email: address, canRegister: false });
  const free = await call(`${gateway}/api-queries/users/check?email=${encodeURIComponent(email())}`);
  assert.equal(free.body.canRegister, true);

  const unknown = await call(`${gateway}/api-queries/users/${randomUUID()}`);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'user_not_found');

  // The client's trace went gateway → service → the event on the bus.
  const bus = await createBus(busUrl);
  const [event] = await bus.read('users', { after: created.body.seq - 1, limit: 1 });
  await bus.close();
  assert.equal(event?.type, 'user.registered');
  assert.equal(event.headers.traceparent?.split('-')[1], traceId);
  assert.ok(!JSON.stringify(event).includes('scrypt'), 'no hash on the bus');

  // The password is in no log line.
  const logs = readdirSync(path.join(dataDir, 'logs')).map((f) => readFileSync(path.join(dataDir, 'logs', f), 'utf8'));
  assert.ok(logs.join('').includes(created.body.id) || logs.length >= 3);
  assert.ok(!logs.some((text) => text.includes(PASSWORD)), 'password found in a log file');
  return created.body as { id: string; seq: number };
}

describe('users through the gateway (SQLite defaults)', () => {
  test('register, conflict, bad input, read your own write, Ctrl-C leaves no process', async (t) => {
    const system = await startSystem(t, { topology: USERS_TOPOLOGY });
    const user = await walkRegistration(system.gateway, system.dataDir);
    const store = await createStore(`sqlite:${system.dataDir}`, { name: 'users-commands' });
    const [row] = await store.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [
      user.id,
    ]);
    await store.close();
    assert.match(row!.password_hash, /^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.ok(!row!.password_hash.includes(PASSWORD));

    const run = await system.run();
    const pids = run.instances.map((i) => i.pid).filter((pid): pid is number => pid !== null);
    assert.equal(pids.length, 4, 'gateway, monitor, users-commands-1, users-queries-1');
    assert.deepEqual(run.instances.map((i) => i.name).sort(), [
      'gateway',
      'monitor',
      'users-commands-1',
      'users-queries-1',
    ]);
    // The gateway's admin port, from run.json, with the token from the data directory.
    const pools = await fetch(`${run.gatewayAdmin}/pools`, {
      headers: { authorization: `Bearer ${system.adminToken}` },
    });
    assert.equal(pools.status, 200);
    const { pools: list } = (await pools.json()) as { pools: { members: { name: string; state: string }[] }[] };
    assert.deepEqual(list.flatMap((p) => p.members.map((m) => `${m.name}:${m.state}`)).sort(), [
      'users-commands-1:healthy',
      'users-queries-1:healthy',
    ]);
    assert.equal(await system.stop(), 0);
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} outlived the supervisor`);
  });

  test('50 concurrent registrations of one email: exactly one 201', async (t) => {
    const system = await startSystem(t, { topology: USERS_TOPOLOGY });
    const address = email();
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        call(`${system.gateway}/api-commands/users`, { body: { email: address, password: 'pw' } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 409).length, 49);
    const winner = results.find((r) => r.status === 201)!.body;
    const list = await call(`${system.gateway}/api-queries/users?minSeq=${winner.seq}`);
    assert.equal(list.body.filter((u: { email: string }) => u.email === address).length, 1);
  });

  test('Idempotency-Key: a repeat returns the first response and registers once', async (t) => {
    const system = await startSystem(t, { topology: USERS_TOPOLOGY });
    const key = randomUUID();
    const body = { email: email(), password: 'pw' };
    const headers = { 'idempotency-key': key };
    const [first, second] = await Promise.all([
      call(`${system.gateway}/api-commands/users`, { body, headers }),
      call(`${system.gateway}/api-commands/users`, { body, headers }),
    ]);
    const third = await call(`${system.gateway}/api-commands/users`, { body, headers });
    assert.equal(first.status, 201);
    assert.deepEqual(second, { ...second, status: 201, body: first.body });
    assert.deepEqual(third.body, first.body);
    const reused = await call(`${system.gateway}/api-commands/users`, { body: { ...body, email: email() }, headers });
    assert.equal(reused.status, 422);
    assert.equal(reused.body.error.code, 'idempotency_key_reused');
  });

  test('the supervisor restarts an instance that was SIGKILLed', async (t) => {
    const system = await startSystem(t, { topology: USERS_TOPOLOGY });
    const before = (await system.run()).instances.find((i) => i.name === 'users-queries-1')!;
    process.kill(before.pid!, 'SIGKILL');
    const after = await waitFor(
      async () => {
        const instance = (await system.run()).instances.find((i) => i.name === 'users-queries-1')!;
        return instance.state === 'running' && instance.pid !== before.pid ? instance : undefined;
      },
      { what: 'users-queries-1 to be restarted' },
    );
    assert.equal(after.restarts, 1);
    const list = await waitFor(async () => {
      const res = await call(`${system.gateway}/api-queries/users`);
      return res.status === 200 ? res : undefined;
    });
    assert.ok(Array.isArray(list.body));
  });
});

describe('users through the gateway (PostgreSQL store)', async () => {
  const skip = await needPostgres();
  test('the same walk with store: postgres://', { skip }, async (t) => {
    const prefix = `${uniqueName('e2e')}_`;
    const system = await startSystem(t, {
      topology: USERS_TOPOLOGY,
      env: { ARCHLAB_STORE_URL: `${POSTGRES_URL}?prefix=${prefix}` },
    });
    t.after(() => admin((client) => dropSchemas(client, prefix)));
    await walkRegistration(system.gateway, system.dataDir);
    const [schemas, users] = await admin(async (client) => [
      await schemasUnder(client, prefix),
      await client.query(`SELECT email FROM "${prefix}users_commands".users`),
    ]);
    assert.deepEqual(schemas, [`${prefix}users_commands`, `${prefix}users_queries_1`]);
    assert.equal((users as { rowCount: number }).rowCount, 1, 'the registration is in the PostgreSQL write store');
  });
});

describe('users through the gateway (Redis bus)', async () => {
  const skip = await needRedis();
  test('the same walk with bus: redis://', { skip }, async (t) => {
    const prefix = `${uniqueName('e2e')}:`;
    const system = await startSystem(t, {
      topology: USERS_TOPOLOGY,
      env: { ARCHLAB_BUS_URL: `${REDIS_URL}/0?prefix=${prefix}` },
    });
    t.after(() => deleteKeys(prefix));
    await walkRegistration(system.gateway, system.dataDir, `${REDIS_URL}/0?prefix=${prefix}`);
  });
});
