// The products write side on SQLite and on PostgreSQL (where transactions really run side by side):
// reservations (once per order, never below zero, a race for the last units), versioned stock
// updates, and the events each change commits with.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { admin, dropSchemas } from '../../../test/helpers/postgres.ts';
import { needPostgres, POSTGRES_URL } from '../../../test/helpers/services.ts';
import { uniqueName } from '../../../test/helpers/tmp.ts';
import { isAppError } from '../../kit/errors.ts';
import { continueTrace } from '../../kit/trace.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import { createProduct, type ProductsCommandContext, reserveStock, updateProduct } from './commands.ts';

const migrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const meta = () => ({ trace: continueTrace({}) });
const pgSkip = await needPostgres();

const backends: { name: string; skip: string | false; open: (t: TestContext) => Promise<Store> }[] = [
  { name: 'sqlite', skip: false, open: () => createStore('sqlite::memory:', { name: 'products-commands' }) },
  {
    name: 'postgres',
    skip: pgSkip,
    open: (t) => {
      const prefix = `${uniqueName('t')}_`;
      t.after(() => admin((client) => dropSchemas(client, prefix)));
      return createStore(POSTGRES_URL, { name: 'products-commands', prefix });
    },
  },
];

async function setup(t: TestContext, backend: (typeof backends)[number]) {
  const store = await backend.open(t);
  t.after(() => store.close());
  await store.migrate([...outboxMigrations, ...migrations]);
  const ctx: ProductsCommandContext = { store, instance: 'products-commands-1', committed: () => {} };
  const product = async (stock: number) =>
    (await createProduct(ctx, { name: 'Cámara', description: 'réflex', value: 12.5, stock }, meta())).body as {
      id: string;
      version: number;
    };
  const stock = async (id: string) =>
    (await store.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [id]))[0]!.stock;
  const events = async () => store.query<{ type: string; data: string }>('SELECT type, data FROM outbox ORDER BY seq');
  return { store, ctx, product, stock, events };
}

const rejects = (code: string, status: number) => (error: unknown) => {
  assert.ok(isAppError(error), String(error));
  assert.equal(error.code, code);
  assert.equal(error.status, status);
  return true;
};

for (const backend of backends) {
  describe(`products commands (${backend.name})`, { skip: backend.skip }, () => {
    test('create answers the seed fields with exact value, version 1 and the event seq', async (t) => {
      const { ctx, events } = await setup(t, backend);
      const created = await createProduct(ctx, { name: 'Lente', description: '50mm', value: 0.1, stock: 3 }, meta());
      assert.equal(created.status, 201);
      assert.deepEqual(
        { ...created.body, id: undefined },
        { id: undefined, name: 'Lente', description: '50mm', value: 0.1, stock: 3, version: 1, seq: 1 },
      );
      const [event] = await events();
      assert.equal(event!.type, 'product.created');
      assert.equal(JSON.parse(event!.data).valueCents, 10);
      await assert.rejects(
        createProduct(ctx, { name: 'x', description: '', value: 1.005, stock: 1 }, meta()),
        rejects('validation_failed', 400),
      );
    });

    test('a redelivered reservation answers its first result and never decrements twice', async (t) => {
      const { ctx, product, stock, events } = await setup(t, backend);
      const { id } = await product(5);
      const first = await reserveStock(ctx, id, { orderId: 'o-1', quantity: 2 }, meta());
      assert.equal(first.outcome, 'reserved');
      assert.equal(first.replayed, false);
      assert.equal(first.stock, 3);
      const again = await reserveStock(ctx, id, { orderId: 'o-1', quantity: 2 }, meta());
      assert.deepEqual({ ...again, seq: first.seq }, { ...first, replayed: true });
      assert.equal(await stock(id), 3);
      assert.equal((await events()).filter((e) => e.type === 'product.stock-reserved').length, 1);
      await assert.rejects(
        reserveStock(ctx, id, { orderId: 'o-1', quantity: 1 }, meta()),
        rejects('reservation_mismatch', 409),
      );
    });

    test('not enough stock: refused, stock unchanged, and the refusal is the answer on redelivery too', async (t) => {
      const { ctx, product, stock, store } = await setup(t, backend);
      const { id } = await product(1);
      const refused = await reserveStock(ctx, id, { orderId: 'o-big', quantity: 2 }, meta());
      assert.equal(refused.outcome, 'refused');
      assert.equal(await stock(id), 1);
      await updateProduct(ctx, id, { stock: 10 }, 1, meta()); // a refusal changed nothing: still version 1
      const replay = await reserveStock(ctx, id, { orderId: 'o-big', quantity: 2 }, meta());
      assert.equal(replay.outcome, 'refused');
      assert.equal(replay.replayed, true);
      assert.equal(await stock(id), 10);
      await assert.rejects(
        reserveStock(ctx, 'no-such-product', { orderId: 'o-ghost', quantity: 1 }, meta()),
        rejects('product_not_found', 404),
      );
      const left = await store.query('SELECT 1 FROM reservations WHERE order_id = $1', ['o-ghost']);
      assert.equal(left.length, 0, 'an unknown product leaves no reservation behind');
    });

    test('20 concurrent reservations of 1 for the last 5 units: exactly 5 reserved, stock 0', async (t) => {
      const { ctx, product, stock } = await setup(t, backend);
      const { id } = await product(5);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => reserveStock(ctx, id, { orderId: `race-${i}`, quantity: 1 }, meta())),
      );
      assert.equal(results.filter((r) => r.outcome === 'reserved').length, 5);
      assert.equal(await stock(id), 0);
    });

    test('the same job delivered twice at once: one decrement, the twin replays it', async (t) => {
      const { ctx, product, stock } = await setup(t, backend);
      const { id } = await product(5);
      const twins = await Promise.all(
        Array.from({ length: 4 }, () => reserveStock(ctx, id, { orderId: 'o-twin', quantity: 2 }, meta())),
      );
      assert.equal(twins.filter((r) => !r.replayed).length, 1);
      assert.ok(twins.every((r) => r.outcome === 'reserved' && r.stock === 3));
      assert.equal(await stock(id), 3);
    });

    test('PUT of stock needs the version it replaces; a stale one cannot overwrite a reservation', async (t) => {
      const { ctx, product, stock } = await setup(t, backend);
      const { id, version } = await product(10);
      await assert.rejects(
        updateProduct(ctx, id, { stock: 50 }, undefined, meta()),
        rejects('product_version_required', 428),
      );
      await reserveStock(ctx, id, { orderId: 'o-before-put', quantity: 4 }, meta());
      await assert.rejects(updateProduct(ctx, id, { stock: 50 }, version, meta()), (error) => {
        rejects('product_version_conflict', 409)(error);
        assert.equal((error as { details: { version: number } }).details.version, version + 1);
        return true;
      });
      assert.equal(await stock(id), 6, 'the decrement stands');

      // Fields other than stock may change without a version, and never touch stock.
      const renamed = await updateProduct(ctx, id, { name: 'Cámara 2' }, undefined, meta());
      assert.equal(renamed.body.stock, 6);
      const set = await updateProduct(ctx, id, { stock: 50 }, renamed.body.version as number, meta());
      assert.equal(set.body.stock, 50);
      await assert.rejects(
        updateProduct(ctx, 'nope', { name: 'x' }, undefined, meta()),
        rejects('product_not_found', 404),
      );
      await assert.rejects(updateProduct(ctx, id, {}, undefined, meta()), rejects('validation_failed', 400));
    });

    test('an Idempotency-Key replays the first creation, and refuses another request under the same key', async (t) => {
      const { ctx, store } = await setup(t, backend);
      const input = { name: 'Trípode', description: 'aluminio', value: 30, stock: 2 };
      const [a, b] = await Promise.all([
        createProduct(ctx, input, { ...meta(), idempotencyKey: 'k-1' }),
        createProduct(ctx, input, { ...meta(), idempotencyKey: 'k-1' }),
      ]);
      assert.deepEqual(a, b);
      assert.equal((await store.query('SELECT id FROM products')).length, 1);
      await assert.rejects(
        createProduct(ctx, { ...input, stock: 3 }, { ...meta(), idempotencyKey: 'k-1' }),
        rejects('idempotency_key_reused', 422),
      );
    });
  });
}
