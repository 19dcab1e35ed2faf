// Placed orders become exactly one job each, even when the stream is delivered again; a dead job of an
// order still processing is requeued by the sweeper, one of a settled order is left alone.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { createBus } from '../../bus/create-bus.ts';
import { createLogger } from '../../kit/logger.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { startDispatcher, startSweeper } from './dispatch.ts';
import { ORDERS_QUEUE } from './events.ts';

const migrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const log = createLogger({ level: 'silent' });

async function until(check: () => Promise<boolean>, what: string) {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function setup(t: TestContext) {
  const bus = await createBus('sqlite::memory:');
  t.after(() => bus.close());
  const store = await createStore('sqlite::memory:', { name: 'orders-dispatch-test' });
  t.after(() => store.close());
  await store.migrate(migrations);
  return { bus, store };
}

const placed = (id: string) => ({
  id: `event-${id}`,
  type: 'order.placed',
  data: { id, user: 'u', product: 'p', quantity: 1, state: 'processing', placedBy: 'x', placedAt: 1 },
});

test('every order.placed becomes one orders.process job, also when the stream is delivered twice', async (t) => {
  const { bus } = await setup(t);
  await bus.append('orders', [placed('o-1'), placed('o-2'), { id: 'e-done', type: 'order.completed', data: {} }]);
  const first = startDispatcher({ bus });
  await until(async () => (await bus.counts(ORDERS_QUEUE)).waiting === 2, 'two jobs');
  await first.close();
  // A crash before the offset was stored delivers the same events again.
  await bus.setOffset('orders', 'orders-dispatcher', 0);
  await bus.append('orders', [placed('o-3')]);
  const second = startDispatcher({ bus });
  t.after(() => second.close());
  await until(async () => (await bus.getOffset('orders', 'orders-dispatcher')) === 4, 'the redelivery');
  assert.equal((await bus.counts(ORDERS_QUEUE)).waiting, 3);
});

test('the sweeper requeues the dead job of a processing order, not that of a settled one', async (t) => {
  const { bus, store } = await setup(t);
  for (const [id, state] of [
    ['o-stuck', 'processing'],
    ['o-done', 'completed'],
  ]) {
    await store.execute(
      `INSERT INTO orders (id, user_id, product_id, quantity, state, placed_by, created_at, updated_at)
       VALUES ($1, 'u', 'p', 1, $2, 'x', 1, 1)`,
      [id!, state!],
    );
    await bus.enqueue(ORDERS_QUEUE, { orderId: id }, { id });
  }
  const failing = bus.consume(
    ORDERS_QUEUE,
    async () => {
      throw new Error('products-commands unreachable');
    },
    { attempts: 1 },
  );
  await until(async () => (await bus.counts(ORDERS_QUEUE)).dead === 2, 'both jobs dead');
  await failing.close();
  const sweeper = startSweeper({ bus, store, log, intervalMs: 60_000 });
  t.after(() => sweeper.close());
  assert.equal(await sweeper.sweep(), 1);
  assert.deepEqual(
    (await bus.dead(ORDERS_QUEUE)).map((job) => job.id),
    ['o-done'],
  );
  assert.equal((await bus.counts(ORDERS_QUEUE)).waiting, 1);
});
