// The products read model replays without harm: the whole stream applied twice, or an old snapshot
// after a newer one, leaves every product at its latest version (the seed crashed on duplicate keys).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StreamEvent } from '../../bus/bus.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import type { ProductCreated, ProductSnapshot } from './events.ts';
import { applyProductEvent } from './projection.ts';
import { getProduct } from './queries.ts';

const migrations = loadMigrations(new URL('./migrations/queries/', import.meta.url));

function productEvents(id: string): StreamEvent[] {
  const base = { id, name: 'Cámara', description: 'réflex', valueCents: 1250, updatedAt: 1 };
  const created: ProductCreated = { ...base, stock: 5, version: 1, createdBy: 'products-commands-1', createdAt: 1 };
  const renamed: ProductSnapshot = { ...base, name: 'Cámara II', stock: 5, version: 2, updatedAt: 2 };
  const reserved = { ...base, name: 'Cámara II', stock: 3, version: 3, updatedAt: 3, orderId: 'o-1', quantity: 2 };
  return [
    { type: 'product.created', data: created },
    { type: 'product.updated', data: renamed },
    { type: 'product.stock-reserved', data: reserved },
    { type: 'product.something-else', data: {} },
  ].map((event, i) => ({ ...event, stream: 'products', seq: i + 1, id: `e${i + 1}`, headers: {}, time: i }));
}

test('replaying the products stream twice, or an old snapshot late, keeps the latest version', async (t) => {
  const store = await createStore('sqlite::memory:', { name: 'products-queries-test' });
  t.after(() => store.close());
  await store.migrate(migrations);
  const events = productEvents('p-1');
  for (let pass = 0; pass < 2; pass++) {
    await store.transaction(async (tx) => {
      for (const event of events) await applyProductEvent(tx, event);
    });
  }
  await store.transaction((tx) => applyProductEvent(tx, events[1]!));
  const product = await getProduct(store, 'p-1');
  assert.equal(product?.name, 'Cámara II');
  assert.equal(product?.stock, 3);
  assert.equal(product?.version, 3);
  assert.equal(product?.value, 12.5);
});
