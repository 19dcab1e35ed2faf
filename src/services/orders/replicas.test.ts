// The orders service's replicas of users and products replay without harm: the streams applied twice
// (the seed's replication crashed on duplicate keys) or an old product snapshot late change nothing.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { admin, dropSchemas } from '../../../test/helpers/postgres.ts';
import { needPostgres, POSTGRES_URL } from '../../../test/helpers/services.ts';
import { uniqueName } from '../../../test/helpers/tmp.ts';
import type { StreamEvent } from '../../bus/bus.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { applyProductToReplica, applyUserToReplica, productKnown, userKnown } from './replicas.ts';

const migrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const pgSkip = await needPostgres();

const backends: { name: string; skip: string | false; open: (t: TestContext) => ReturnType<typeof createStore> }[] = [
  { name: 'sqlite', skip: false, open: () => createStore('sqlite::memory:', { name: 'orders-commands' }) },
  {
    name: 'postgres',
    skip: pgSkip,
    open: (t) => {
      const prefix = `${uniqueName('t')}_`;
      t.after(() => admin((client) => dropSchemas(client, prefix)));
      return createStore(POSTGRES_URL, { name: 'orders-commands', prefix });
    },
  },
];

const event = (stream: string, seq: number, type: string, data: unknown): StreamEvent => ({
  stream,
  seq,
  id: `${stream}-${seq}`,
  type,
  data,
  headers: {},
  time: seq,
});

const product = { id: 'p-1', name: 'Cámara', description: 'réflex', valueCents: 1250, updatedAt: 1 };
const productEvents = [
  event('products', 1, 'product.created', { ...product, stock: 5, version: 1, createdBy: 'p', createdAt: 1 }),
  event('products', 2, 'product.updated', { ...product, name: 'Cámara II', stock: 5, version: 2 }),
  event('products', 3, 'product.stock-reserved', { ...product, name: 'Cámara II', stock: 3, version: 3, orderId: 'o' }),
];

const userEvent: StreamEvent = {
  stream: 'users',
  seq: 1,
  id: 'e1',
  type: 'user.registered',
  data: { id: 'u-1', email: null, username: 'ada', name: null, registeredBy: 'users-commands-1', registeredAt: 1 },
  headers: {},
  time: 1,
};

for (const backend of backends) {
  test(`users and products replicas apply each stream twice without a duplicate-key failure (${backend.name})`, {
    skip: backend.skip,
  }, async (t) => {
    const store = await backend.open(t);
    t.after(() => store.close());
    await store.migrate(migrations);
    const products = productEvents;
    for (let pass = 0; pass < 2; pass++) {
      await store.transaction(async (tx) => {
        await applyUserToReplica(tx, userEvent);
        for (const event of products) await applyProductToReplica(tx, event);
      });
    }
    await store.transaction((tx) => applyProductToReplica(tx, products[0]!));
    assert.ok(await userKnown(store, 'u-1'));
    assert.ok(await productKnown(store, 'p-1'));
    assert.equal(await userKnown(store, 'u-2'), false);
    const rows = await store.query<{ name: string; stock: number; version: number }>(
      'SELECT name, stock, version FROM product_replica',
    );
    assert.deepEqual(rows, [{ name: 'Cámara II', stock: 3, version: 3 }]);
    assert.equal((await store.query('SELECT id FROM user_replica')).length, 1);
  });
}
