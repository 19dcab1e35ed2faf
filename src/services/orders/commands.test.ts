// The orders write side on SQLite and on PostgreSQL: references checked against the replicas (with
// their lag handled), the seed's 400, and settlement exactly once (also when raced).
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { admin, dropSchemas } from '../../../test/helpers/postgres.ts';
import { needPostgres, POSTGRES_URL } from '../../../test/helpers/services.ts';
import { uniqueName } from '../../../test/helpers/tmp.ts';
import { isAppError } from '../../kit/errors.ts';
import type { Projector } from '../../kit/projector.ts';
import { continueTrace } from '../../kit/trace.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import { type OrdersCommandContext, placeOrder, settleOrder, UNKNOWN_REFERENCE_MESSAGE } from './commands.ts';

const migrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const meta = () => ({ trace: continueTrace({}) });
const pgSkip = await needPostgres();

const backends: { name: string; skip: string | false; open: (t: TestContext) => Promise<Store> }[] = [
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

/** A replica at `position`; waitFor runs `catchUp` (which may add rows) and reports whether it got there. */
function fakeReplica(position: number, catchUp: (seq: number) => Promise<boolean> = async () => false): Projector {
  return {
    position: () => position,
    ready: () => true,
    waitFor: async (seq) => seq <= position || catchUp(seq),
    close: async () => {},
  };
}

async function setup(
  t: TestContext,
  backend: (typeof backends)[number],
  options: Partial<OrdersCommandContext> & { heads?: Record<string, number> } = {},
) {
  const store = await backend.open(t);
  t.after(() => store.close());
  await store.migrate([...outboxMigrations, ...migrations]);
  await store.execute("INSERT INTO user_replica (id, username, email, seq) VALUES ('u-1', 'ada', NULL, 1)");
  await store.execute(
    "INSERT INTO product_replica (id, name, value_cents, stock, version) VALUES ('p-1', 'Cámara', 1250, 5, 1)",
  );
  const heads = options.heads ?? {};
  const ctx: OrdersCommandContext = {
    store,
    bus: { head: async (stream) => heads[stream] ?? 1 },
    instance: 'orders-commands-1',
    committed: () => {},
    replicas: { users: fakeReplica(1), products: fakeReplica(1) },
    replicaWaitMs: 50,
    ...options,
  };
  return { store, ctx };
}

const rejects = (code: string, status: number) => (error: unknown) => {
  assert.ok(isAppError(error), String(error));
  assert.equal(error.code, code);
  assert.equal(error.status, status);
  return true;
};

for (const backend of backends) {
  describe(`orders commands (${backend.name})`, { skip: backend.skip }, () => {
    test('an order for a known user and product is accepted as processing with its event', async (t) => {
      const { ctx, store } = await setup(t, backend);
      const placed = await placeOrder(ctx, { user: 'u-1', product: 'p-1', quantity: 2 }, {}, meta());
      assert.equal(placed.status, 202);
      assert.deepEqual(
        { ...placed.body, id: undefined },
        { id: undefined, user: 'u-1', product: 'p-1', quantity: 2, state: 'processing', seq: 1 },
      );
      const [event] = await store.query<{ type: string }>('SELECT type FROM outbox');
      assert.equal(event!.type, 'order.placed');
    });

    test("an unknown user or product is the seed's 400, and nothing is written", async (t) => {
      const { ctx, store } = await setup(t, backend);
      for (const input of [
        { user: 'u-404', product: 'p-1', quantity: 1 },
        { user: 'u-1', product: 'p-404', quantity: 1 },
      ]) {
        await assert.rejects(placeOrder(ctx, input, {}, meta()), (error) => {
          rejects('order_reference_unknown', 400)(error);
          assert.equal((error as Error).message, UNKNOWN_REFERENCE_MESSAGE);
          return true;
        });
      }
      assert.equal((await store.query('SELECT id FROM orders')).length, 0);
    });

    test('a user the replica has not applied yet: the order waits for the replica to reach the stream head', async (t) => {
      const { ctx, store } = await setup(t, backend, { heads: { users: 2 } });
      ctx.replicas.users = fakeReplica(1, async (seq) => {
        assert.equal(seq, 2, 'waits for the head it saw');
        await store.execute("INSERT INTO user_replica (id, username, email, seq) VALUES ('u-new', 'bob', NULL, 2)");
        return true;
      });
      const placed = await placeOrder(ctx, { user: 'u-new', product: 'p-1', quantity: 1 }, {}, meta());
      assert.equal(placed.status, 202);
    });

    test('a read-your-writes hint the replica does not reach in time is a retryable 504', async (t) => {
      const { ctx } = await setup(t, backend);
      await assert.rejects(
        placeOrder(ctx, { user: 'u-1', product: 'p-1', quantity: 1 }, { usersSeq: 9 }, meta()),
        rejects('read_model_behind', 504),
      );
    });

    test('settling is once: the same outcome again replays, the other outcome is a 409', async (t) => {
      const { ctx, store } = await setup(t, backend);
      const placed = await placeOrder(ctx, { user: 'u-1', product: 'p-1', quantity: 1 }, {}, meta());
      const id = placed.body.id as string;
      const first = await settleOrder(ctx, id, { state: 'failed', reason: 'insufficient_stock' }, meta());
      assert.deepEqual(first.body, { id, state: 'failed', reason: 'insufficient_stock', seq: 2, replayed: false });
      const again = await settleOrder(ctx, id, { state: 'failed', reason: 'insufficient_stock' }, meta());
      assert.equal(again.body.replayed, true);
      await assert.rejects(settleOrder(ctx, id, { state: 'completed' }, meta()), rejects('order_already_settled', 409));
      await assert.rejects(settleOrder(ctx, 'o-404', { state: 'completed' }, meta()), rejects('order_not_found', 404));
      const events = await store.query<{ type: string }>('SELECT type FROM outbox ORDER BY seq');
      assert.deepEqual(
        events.map((e) => e.type),
        ['order.placed', 'order.failed'],
      );
    });

    test('settlements racing for one order: one decides, the others replay or conflict', async (t) => {
      const { ctx, store } = await setup(t, backend);
      const placed = await placeOrder(ctx, { user: 'u-1', product: 'p-1', quantity: 1 }, {}, meta());
      const id = placed.body.id as string;
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          settleOrder(
            ctx,
            id,
            i % 2 === 0 ? { state: 'completed' } : { state: 'failed', reason: 'insufficient_stock' },
            meta(),
          ),
        ),
      );
      const decided = outcomes.filter((o) => o.status === 'fulfilled' && o.value.body.replayed === false);
      assert.equal(decided.length, 1);
      const events = await store.query<{ type: string }>("SELECT type FROM outbox WHERE type <> 'order.placed'");
      assert.equal(events.length, 1);
    });
  });
}
