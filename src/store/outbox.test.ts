import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { silentLogger } from '../../test/helpers/log.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { createBus } from '../bus/create-bus.ts';
import { createStore } from './create-store.ts';
import { appendToOutbox, outboxMigrations, type RelayOptions, startOutboxRelay } from './outbox.ts';

async function setup(t: TestContext) {
  const store = await createStore('sqlite::memory:', { name: 'outbox-test' });
  t.after(() => store.close());
  await store.migrate(outboxMigrations);
  const bus = await createBus('sqlite::memory:');
  t.after(() => bus.close());
  return { store, bus };
}

function relay(t: TestContext, options: RelayOptions) {
  const running = startOutboxRelay({ pollIntervalMs: 10, ...options });
  t.after(() => running.close());
  return running;
}

const event = (n: number) => ({ id: `e${n}`, type: 'thing.happened', data: { n } });

describe('outbox', () => {
  test('seqs are assigned at commit, per stream, gap-free; a rolled-back command leaves no hole', async (t) => {
    const { store } = await setup(t);
    const a1 = await store.transaction((tx) => appendToOutbox(tx, 'a', event(1)));
    const b1 = await store.transaction((tx) => appendToOutbox(tx, 'b', event(2)));
    await assert.rejects(
      store.transaction(async (tx) => {
        await appendToOutbox(tx, 'a', event(3));
        throw new Error('command failed after writing');
      }),
      /command failed/,
    );
    const a2 = await store.transaction((tx) => appendToOutbox(tx, 'a', event(4)));
    assert.deepEqual([a1, b1, a2], [1, 1, 2]);
  });

  test('the relay moves committed events to the bus with the same seqs, and marks them', async (t) => {
    const { store, bus } = await setup(t);
    for (let n = 1; n <= 250; n++)
      await store.transaction((tx) => appendToOutbox(tx, n % 2 ? 'odd' : 'even', event(n)));
    const running = relay(t, { store, bus, log: silentLogger(), batchSize: 40 });
    await waitFor(async () => (await running.pending()) === 0, { what: 'the outbox to drain' });
    const odd = await bus.read('odd', { after: 0, limit: 1000 });
    assert.deepEqual(
      odd.map((e) => e.seq),
      Array.from({ length: 125 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      odd.map((e) => (e.data as { n: number }).n),
      Array.from({ length: 125 }, (_, i) => 2 * i + 1),
    );
    assert.equal(await bus.head('even'), 125);
  });

  // Regression: a drain that returned while paused used to leave the relay stuck after unpausing.
  test('a paused relay resumes when unpaused', async (t) => {
    const { store, bus } = await setup(t);
    let paused = true;
    const running = relay(t, { store, bus, log: silentLogger(), hooks: { paused: () => paused } });
    await store.transaction((tx) => appendToOutbox(tx, 's', event(1)));
    running.notify();
    assert.equal(await running.drain(), 0);
    assert.equal(await bus.head('s'), 0);
    paused = false;
    await waitFor(async () => (await bus.head('s')) === 1, { what: 'the unpaused relay to move the event' });
  });

  test('a relay that failed after appending re-appends idempotently', async (t) => {
    const { store, bus } = await setup(t);
    await store.transaction((tx) => appendToOutbox(tx, 's', event(1)));
    await store.transaction((tx) => appendToOutbox(tx, 's', event(2)));
    let failures = 1;
    const running = relay(t, {
      store,
      bus,
      log: silentLogger(),
      hooks: {
        afterAppend: () => {
          if (failures-- > 0) throw new Error('crashed before marking');
        },
      },
    });
    await waitFor(async () => (await running.pending()) === 0, { what: 'the second relay pass' });
    assert.ok(failures < 0, 'the first pass failed after its append');
    const events = await bus.read('s', { after: 0 });
    assert.deepEqual(
      events.map((e) => [e.seq, e.id]),
      [
        [1, 'e1'],
        [2, 'e2'],
      ],
    );
  });

  test('an outbox ahead of a wiped bus is refused loudly, not renumbered', async (t) => {
    const { store, bus } = await setup(t);
    await store.transaction((tx) => appendToOutbox(tx, 's', event(1)));
    await store.execute('UPDATE outbox SET relayed_at = 1');
    await store.transaction((tx) => appendToOutbox(tx, 's', event(2)));
    const running = startOutboxRelay({ store, bus, log: silentLogger(), pollIntervalMs: 60_000 });
    t.after(() => running.close());
    await assert.rejects(running.drain(), { code: 'bus_seq_conflict' });
    assert.equal(await bus.head('s'), 0);
  });
});
