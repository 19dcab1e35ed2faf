// Seed 004 (fotoalpes): users, products and orders, each CQRS with its own store, orders processed
// asynchronously by a worker that reserves stock on the products write side. Its routes, fields and
// message through the gateway; none of its bugs (stock below zero, a PUT erasing a decrement, 500 on
// missing fields, orders stuck in processing); and its failure tactic: a worker SIGKILLed between the
// reservation and the settlement loses nothing and decrements once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { createStore } from '../../src/store/create-store.ts';
import type { InstanceStatus } from '../../src/supervisor/run-file.ts';
import { admin, dropSchemas } from '../helpers/postgres.ts';
import { deleteKeys } from '../helpers/redis.ts';
import { needPostgres, needRedis, POSTGRES_URL, REDIS_URL } from '../helpers/services.ts';
import { CLI, call, type RunningSystem, startSystem } from '../helpers/system.ts';
import { tmpDir, uniqueName } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);

async function startFotoalpes(
  t: TestContext,
  workerEnv = '{}',
  env: Record<string, string> = {},
): Promise<RunningSystem> {
  const file = path.join(tmpDir(t, 'archlab-topology-'), 'archlab.yaml');
  writeFileSync(
    file,
    `monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  users-commands: {}
  users-queries: {}
  products-commands: {}
  products-queries: {}
  orders-commands: {}
  orders-queries: {}
  orders-worker:
    env: ${workerEnv}
routes:
  - { prefix: /api-commands/users, service: users-commands }
  - { prefix: /api-queries/users, service: users-queries, idempotent: true }
  - { prefix: /api-commands/products, service: products-commands }
  - { prefix: /api-queries/products, service: products-queries, idempotent: true }
  - { prefix: /api-commands/orders, service: orders-commands }
  - { prefix: /api-queries/orders, service: orders-queries, idempotent: true }
`,
  );
  return startSystem(t, { topology: file, env });
}

interface Refs {
  usersSeq: number;
  productsSeq: number;
}

async function user(system: RunningSystem, username: string) {
  const res = await call(`${system.gateway}/api-commands/users`, { body: { username } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; seq: number };
}

async function product(system: RunningSystem, stock: number, name = 'Cámara') {
  const res = await call(`${system.gateway}/api-commands/products`, {
    body: { name, description: 'réflex digital', value: 1299.9, stock },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; seq: number; version: number; stock: number; value: number };
}

async function order(system: RunningSystem, body: unknown, refs?: Refs) {
  const query = refs === undefined ? '' : `?usersSeq=${refs.usersSeq}&productsSeq=${refs.productsSeq}`;
  return call(`${system.gateway}/api-commands/orders${query}`, { body });
}

/** Polls the orders read model until every order is settled; returns them. */
async function settled(system: RunningSystem, ids: string[], timeoutMs = 15_000) {
  return waitFor(
    async () => {
      const orders = await Promise.all(ids.map((id) => call(`${system.gateway}/api-queries/orders/${id}`)));
      return orders.every((o) => o.status === 200 && o.body.state !== 'processing') ? orders.map((o) => o.body) : false;
    },
    { timeoutMs, what: `${ids.length} orders to be settled` },
  );
}

/** The products write store, read directly: the truth about stock and reservations. */
async function productsStore(t: TestContext, system: RunningSystem) {
  const store = await createStore(`sqlite:${system.dataDir}`, { name: 'products-commands' });
  t.after(() => store.close());
  return {
    stock: async (id: string) =>
      (await store.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id]))[0]!.stock,
    reservations: (orderId: string) =>
      store.query<{ outcome: string }>('SELECT outcome FROM reservations WHERE order_id = $1', [orderId]),
  };
}

/** The products read model has caught up with the write side's stock. */
const projectedStock = (system: RunningSystem, id: string, stock: number) =>
  waitFor(async () => {
    const res = await call(`${system.gateway}/api-queries/products/${id}`);
    return res.status === 200 && res.body.stock === stock ? res.body : false;
  });

test('seed 004: products and orders through the gateway; stock exact under races; no 500s; nothing stuck', async (t) => {
  const system = await startFotoalpes(t);
  const truth = await productsStore(t, system);
  const users = await Promise.all(Array.from({ length: 4 }, (_, i) => user(system, `fotografo${i}-${process.pid}`)));
  const camera = await product(system, 5);
  assert.equal(camera.value, 1299.9);
  assert.equal(camera.stock, 5);
  const refs: Refs = { usersSeq: Math.max(...users.map((u) => u.seq)), productsSeq: camera.seq };

  // The happy path, and the read side.
  const lens = await product(system, 100, 'Lente');
  const one = await order(
    system,
    { user: users[0]!.id, product: lens.id, quantity: 3 },
    { ...refs, productsSeq: lens.seq },
  );
  assert.equal(one.status, 202);
  assert.equal(one.body.state, 'processing');
  assert.deepEqual(
    { user: one.body.user, product: one.body.product, quantity: one.body.quantity },
    { user: users[0]!.id, product: lens.id, quantity: 3 },
  );
  const [done] = await settled(system, [one.body.id]);
  assert.equal(done.state, 'completed');
  assert.equal(done.reason, null);
  assert.equal((await projectedStock(system, lens.id, 97)).name, 'Lente');
  const listed = await call(`${system.gateway}/api-queries/products`);
  assert.deepEqual(listed.body.map((p: { id: string }) => p.id).sort(), [camera.id, lens.id].sort());

  // The seed's stock bug: 20 orders of 1 race for 5 units → exactly 5 completed, stock 0, never below.
  const race = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      order(system, { user: users[i % users.length]!.id, product: camera.id, quantity: 1 }, refs),
    ),
  );
  assert.deepEqual(
    race.map((r) => r.status),
    Array(20).fill(202),
  );
  const raced = await settled(
    system,
    race.map((r) => r.body.id),
  );
  assert.equal(raced.filter((o) => o.state === 'completed').length, 5);
  assert.ok(raced.filter((o) => o.state === 'failed').every((o) => o.reason === 'insufficient_stock'));
  assert.equal(await truth.stock(camera.id), 0);
  await projectedStock(system, camera.id, 0);

  // More than there is: failed, stock unchanged.
  const greedy = await order(system, { user: users[1]!.id, product: lens.id, quantity: 98 }, refs);
  assert.equal((await settled(system, [greedy.body.id]))[0].reason, 'insufficient_stock');
  assert.equal(await truth.stock(lens.id), 97);

  // The seed's PUT bug: a PUT of stock racing orders cannot erase their decrements.
  const tripod = await product(system, 10, 'Trípode');
  const putRefs = { ...refs, productsSeq: tripod.seq };
  const [put, ...racing] = await Promise.all([
    call(`${system.gateway}/api-commands/products/${tripod.id}`, {
      method: 'PUT',
      body: { stock: 50, version: tripod.version },
    }),
    ...Array.from({ length: 5 }, (_, i) =>
      order(system, { user: users[i % 4]!.id, product: tripod.id, quantity: 1 }, putRefs),
    ),
  ]);
  assert.ok(put.status === 200 || put.status === 409, `PUT answered ${put.status}`);
  const tripodOrders = await settled(
    system,
    racing.map((r) => r.body.id),
  );
  assert.ok(tripodOrders.every((o) => o.state === 'completed'));
  // A PUT that won was applied before every reservation (each one bumps the version it expected).
  assert.equal(await truth.stock(tripod.id), put.status === 200 ? 45 : 5);
  const stale = await call(`${system.gateway}/api-commands/products/${tripod.id}`, {
    method: 'PUT',
    body: { stock: 99, version: tripod.version },
  });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, 'product_version_conflict');
  const blind = await call(`${system.gateway}/api-commands/products/${tripod.id}`, {
    method: 'PUT',
    body: { stock: 99 },
  });
  assert.equal(blind.status, 428);
  assert.equal(blind.body.error.code, 'product_version_required');
  const renamed = await call(`${system.gateway}/api-commands/products/${tripod.id}`, {
    method: 'PUT',
    body: { description: 'aluminio' },
  });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.stock, put.status === 200 ? 45 : 5, 'a PUT without stock leaves stock alone');

  // Unknown user or product: the seed's message, as a 400.
  for (const body of [
    { user: 'no-such-user', product: camera.id, quantity: 1 },
    { user: users[0]!.id, product: 'no-such-product', quantity: 1 },
  ]) {
    const res = await order(system, body);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      error: { code: 'order_reference_unknown', message: 'The product or the user dont exist' },
    });
  }

  // Missing or bad fields: 400, never 500.
  for (const [route, method, body] of [
    ['/api-commands/products', 'POST', {}],
    ['/api-commands/products', 'POST', { name: 'x', description: 'y', value: 1 }],
    ['/api-commands/products', 'POST', { name: 'x', description: 'y', value: 1.001, stock: 1 }],
    [`/api-commands/products/${lens.id}`, 'PUT', { stock: -1, version: 1 }],
    ['/api-commands/orders', 'POST', {}],
    ['/api-commands/orders', 'POST', { user: users[0]!.id, product: lens.id }],
    ['/api-commands/orders', 'POST', { user: users[0]!.id, product: lens.id, quantity: 0 }],
  ] as const) {
    const res = await call(`${system.gateway}${route}`, { method, body });
    assert.equal(res.status, 400, `${method} ${route} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, 'validation_failed');
  }
  const notJson = await fetch(`${system.gateway}/api-commands/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"user":',
  });
  assert.equal(notJson.status, 400);
  assert.equal((await call(`${system.gateway}/api-queries/orders/nope`)).status, 404);
  assert.equal((await call(`${system.gateway}/api-queries/products/nope`)).status, 404);

  // Nothing accepted lost, nothing left processing.
  const accepted = 1 + race.length + 1 + racing.length;
  const all = await waitFor(async () => {
    const res = await call(`${system.gateway}/api-queries/orders?limit=500`);
    return res.body.length === accepted ? res.body : false;
  });
  assert.deepEqual(
    all.filter((o: { state: string }) => o.state === 'processing'),
    [],
  );
});

test('seed 004 fault: the worker SIGKILLed right after reserving → the order completes once, stock decremented once', async (t) => {
  const system = await startFotoalpes(
    t,
    '{ ARCHLAB_FAULTS: orders.worker-crash-after-reserve, ARCHLAB_ORDERS_LEASE_MS: "1000" }',
  );
  const truth = await productsStore(t, system);
  const buyer = await user(system, `comprador-${process.pid}`);
  const flash = await product(system, 3, 'Flash');
  const refs = { usersSeq: buyer.seq, productsSeq: flash.seq };

  const placed = await order(system, { user: buyer.id, product: flash.id, quantity: 2 }, refs);
  assert.equal(placed.status, 202);
  const [completed] = await settled(system, [placed.body.id], 30_000);
  assert.equal(completed.state, 'completed');
  assert.equal(await truth.stock(flash.id), 1, 'decremented exactly once');
  assert.deepEqual(await truth.reservations(placed.body.id), [{ outcome: 'reserved' }]);

  const { stdout } = await run(process.execPath, [CLI, 'status', '--json', '--data', system.dataDir]);
  const worker = (JSON.parse(stdout) as InstanceStatus[]).find((i) => i.name === 'orders-worker-1')!;
  assert.ok(worker.restarts >= 1, 'the fault killed the worker and the supervisor restarted it');

  // A refused reservation changes no stock, so the fault does not fire: the order fails at once.
  const tooMany = await order(system, { user: buyer.id, product: flash.id, quantity: 2 }, refs);
  const [failed] = await settled(system, [tooMany.body.id], 30_000);
  assert.equal(failed.state, 'failed');
  assert.equal(await truth.stock(flash.id), 1);
  await projectedStock(system, flash.id, 1);
});

test('seed 004 on PostgreSQL and Redis: 20 orders race for 5 units in real concurrent transactions', async (t) => {
  const skip = (await needPostgres()) || (await needRedis());
  if (skip) return t.skip(skip);
  const schemas = `${uniqueName('e2e')}_`;
  const keys = `${uniqueName('e2e')}:`;
  t.after(() => admin((client) => dropSchemas(client, schemas)));
  t.after(() => deleteKeys(keys));
  const system = await startFotoalpes(t, '{}', {
    ARCHLAB_STORE_URL: `${POSTGRES_URL}?prefix=${schemas}`,
    ARCHLAB_BUS_URL: `${REDIS_URL}/0?prefix=${keys}`,
  });
  const buyers = await Promise.all(Array.from({ length: 4 }, (_, i) => user(system, `pg${i}-${process.pid}`)));
  const camera = await product(system, 5);
  const refs = { usersSeq: Math.max(...buyers.map((b) => b.seq)), productsSeq: camera.seq };
  const race = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      order(system, { user: buyers[i % 4]!.id, product: camera.id, quantity: 1 }, refs),
    ),
  );
  assert.ok(race.every((r) => r.status === 202));
  const raced = await settled(
    system,
    race.map((r) => r.body.id),
  );
  assert.equal(raced.filter((o) => o.state === 'completed').length, 5);
  const projected = await projectedStock(system, camera.id, 0);
  assert.equal(projected.version, 6, 'created, then exactly 5 reservations');
  const [row] = await admin(async (client) => {
    const { rows } = await client.query(`SELECT stock FROM "${schemas}products_commands".products WHERE id = $1`, [
      camera.id,
    ]);
    return rows as { stock: string }[];
  });
  assert.equal(Number(row!.stock), 0);
});
