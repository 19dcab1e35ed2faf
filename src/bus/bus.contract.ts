// The semantics bus.ts promises, checked against one backend. Each backend's test file calls
// busContract() in one line.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { waitFor } from '../../test/helpers/wait-for.ts';
import type { Bus, NewEvent, StreamEvent } from './bus.ts';
import { BusErrors } from './errors.ts';

/** Opens one more handle on the same underlying bus (file, key prefix...): a restart or another process. */
export type OpenBus = () => Promise<Bus>;

/**
 * `location(t)` prepares a fresh, isolated bus for one test (and registers its cleanup on t) and
 * returns how to open handles on it. Every handle the suite opens is closed after the test.
 */
export function busContract(
  name: string,
  location: (t: TestContext) => OpenBus | Promise<OpenBus>,
  options: { skip?: string | false } = {},
): void {
  async function setup(t: TestContext): Promise<OpenBus> {
    const opened: Bus[] = [];
    // Registered before location(t)'s cleanup so handles close before their location goes away.
    t.after(() => Promise.all(opened.map((bus) => bus.close())));
    const openRaw = await location(t);
    return async () => {
      const bus = await openRaw();
      opened.push(bus);
      return bus;
    };
  }

  describe(`${name} bus contract`, { skip: options.skip }, () => {
    it('append assigns 1..n in order, gap-free, across calls', async (t) => {
      const bus = await (await setup(t))();
      assert.deepEqual(await bus.append('s', []), []);
      const before = Date.now();
      assert.deepEqual(
        await bus.append('s', [event('a', { n: 1 }, { traceparent: 'x' }), event('b'), event('c')]),
        [1, 2, 3],
      );
      assert.deepEqual(await bus.append('s', [event('d'), event('e')]), [4, 5]);
      assert.equal(await bus.head('s'), 5);
      const events = await bus.read('s');
      assert.deepEqual(
        events.map((e) => [e.seq, e.id]),
        ['a', 'b', 'c', 'd', 'e'].map((id, i) => [i + 1, id]),
      );
      const first = events[0]!;
      assert.equal(first.stream, 's');
      assert.equal(first.type, 'thing.happened');
      assert.deepEqual(first.data, { n: 1 });
      assert.deepEqual(first.headers, { traceparent: 'x' });
      assert.deepEqual(events[1]!.headers, {});
      assert.ok(first.time >= before - 1000 && first.time <= Date.now() + 1000, `time ${first.time} is not now`);
    });

    it('a batch that cannot be appended whole appends nothing', async (t) => {
      const bus = await (await setup(t))();
      const unserialisable: NewEvent = { id: 'bad', type: 'thing.happened', data: { big: 10n } };
      await assert.rejects(bus.append('s', [event('ok'), unserialisable]));
      assert.equal(await bus.head('s'), 0);
      assert.deepEqual(await bus.read('s'), []);
      assert.deepEqual(await bus.append('s', [event('ok')]), [1]);
    });

    it('a duplicate id returns its existing seq and appends nothing', async (t) => {
      const bus = await (await setup(t))();
      await bus.append('s', [event('a'), event('b')]);
      assert.deepEqual(await bus.append('s', [event('b'), event('c')]), [2, 3]);
      assert.deepEqual(await bus.append('s', [event('a')]), [1]);
      assert.deepEqual(await bus.append('s', [event('d'), event('d')]), [4, 4]);
      assert.equal(await bus.head('s'), 4);
      assert.deepEqual(
        (await bus.read('s')).map((e) => e.id),
        ['a', 'b', 'c', 'd'],
      );
    });

    it('expectedSeq accepts the current position and rejects any other, appending nothing', async (t) => {
      const bus = await (await setup(t))();
      assert.deepEqual(await bus.append('s', [event('a'), event('b')], { expectedSeq: 0 }), [1, 2]);
      assert.deepEqual(await bus.append('s', [event('c')], { expectedSeq: 2 }), [3]);
      for (const expectedSeq of [1, 4]) {
        await assert.rejects(bus.append('s', [event('x'), event('y')], { expectedSeq }), {
          code: BusErrors.SEQ_CONFLICT,
          status: 409,
          details: { stream: 's', expectedSeq, actualSeq: 3 },
        });
      }
      assert.equal(await bus.head('s'), 3);
      assert.deepEqual(
        (await bus.read('s')).map((e) => e.id),
        ['a', 'b', 'c'],
      );
    });

    it('expectedSeq with a partly appended batch (a relay retrying after a crash) appends the rest', async (t) => {
      const bus = await (await setup(t))();
      await bus.append('s', [event('a'), event('b')], { expectedSeq: 0 });
      const batch = [event('a'), event('b'), event('c'), event('d')];
      assert.deepEqual(await bus.append('s', batch, { expectedSeq: 0 }), [1, 2, 3, 4]);
      assert.deepEqual(await bus.append('s', batch, { expectedSeq: 0 }), [1, 2, 3, 4]);
      assert.equal(await bus.head('s'), 4);
      // The new event sits at index 1, so it belongs at expectedSeq + 2 whatever precedes it.
      await assert.rejects(bus.append('s', [event('a'), event('e')], { expectedSeq: 2 }), {
        code: BusErrors.SEQ_CONFLICT,
        details: { stream: 's', expectedSeq: 2, actualSeq: 4 },
      });
      assert.equal(await bus.head('s'), 4);
      assert.deepEqual(await bus.append('s', [event('a'), event('e')], { expectedSeq: 3 }), [1, 5]);
    });

    it('read honours after and limit; replay from zero returns everything', async (t) => {
      const bus = await (await setup(t))();
      await bus.append(
        's',
        ids(1, 10).map((id) => event(id)),
      );
      const seqs = (events: StreamEvent[]) => events.map((e) => e.seq);
      assert.deepEqual(seqs(await bus.read('s', { after: 3, limit: 4 })), [4, 5, 6, 7]);
      assert.deepEqual(seqs(await bus.read('s', { limit: 2 })), [1, 2]);
      assert.deepEqual(seqs(await bus.read('s', { after: 8 })), [9, 10]);
      assert.deepEqual(await bus.read('s', { after: 10 }), []);
      const all = await bus.read('s', { after: 0 });
      assert.deepEqual(seqs(all), ids(1, 10).map(Number));
      assert.deepEqual(await bus.read('s'), all);
      assert.deepEqual(await bus.read('nothing-here'), []);
      assert.equal(await bus.head('nothing-here'), 0);
    });

    it('streams are independent', async (t) => {
      const bus = await (await setup(t))();
      assert.deepEqual(await bus.append('left', [event('a')]), [1]);
      assert.deepEqual(await bus.append('right', [event('a'), event('b')]), [1, 2]);
      assert.deepEqual(await bus.append('left', [event('b')]), [2]);
      assert.equal(await bus.head('left'), 2);
      assert.deepEqual(
        (await bus.read('right')).map((e) => [e.stream, e.seq, e.id]),
        [
          ['right', 1, 'a'],
          ['right', 2, 'b'],
        ],
      );
    });

    it('offsets are per stream and consumer and survive close and reopen', async (t) => {
      const open = await setup(t);
      const bus = await open();
      assert.equal(await bus.getOffset('s', 'projection'), 0);
      await bus.setOffset('s', 'projection', 5);
      await bus.setOffset('s', 'projection', 7);
      await bus.setOffset('s', 'audit', 2);
      await bus.setOffset('other', 'projection', 1);
      await bus.close();
      const reopened = await open();
      assert.equal(await reopened.getOffset('s', 'projection'), 7);
      assert.equal(await reopened.getOffset('s', 'audit'), 2);
      assert.equal(await reopened.getOffset('other', 'projection'), 1);
      assert.equal(await reopened.getOffset('other', 'audit'), 0);
    });

    it('subscribe with after delivers everything after it, in order, including later appends', async (t) => {
      const open = await setup(t);
      const bus = await open();
      await bus.append('s', [event('1'), event('2'), event('3')]);
      const seen = collector();
      bus.subscribe('s', { after: 1, batchSize: 2 }, seen.handler);
      await waitFor(() => seen.seqs().length === 2, { what: 'the events already there' });
      await bus.append('s', [event('4'), event('5')]);
      // Another handle stands for another process.
      await (await open()).append('s', [event('6')]);
      await waitFor(() => seen.seqs().length >= 5, { what: 'the later events' });
      assert.deepEqual(seen.seqs(), [2, 3, 4, 5, 6]);
      assert.deepEqual(seen.ids(), ['2', '3', '4', '5', '6']);
      for (const batch of seen.batches) assert.ok(batch.length >= 1 && batch.length <= 2, `batch of ${batch.length}`);
    });

    it('subscribe with consumer resumes after its committed offset across a restart', async (t) => {
      const open = await setup(t);
      const first = await open();
      await first.append(
        's',
        ids(1, 5).map((id) => event(id)),
      );
      const before = collector();
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const subscription = first.subscribe('s', { consumer: 'projection', batchSize: 2 }, async (events) => {
        await before.handler(events);
        if (events.at(-1)!.seq === 5) await gate;
      });
      await waitFor(() => before.seqs().length >= 5, { what: 'the first five events' });
      // Closed while the last batch is in flight: a batch that was handled keeps its offset.
      const closing = subscription.close();
      release();
      await closing;
      await first.close();

      const second = await open();
      assert.equal(await second.getOffset('s', 'projection'), 5);
      await second.append(
        's',
        ids(6, 8).map((id) => event(id)),
      );
      const after = collector();
      second.subscribe('s', { consumer: 'projection', batchSize: 2 }, after.handler);
      const audit = collector();
      second.subscribe('s', { consumer: 'audit' }, audit.handler);
      await waitFor(() => after.seqs().length >= 3 && audit.seqs().length >= 8, { what: 'the resumed delivery' });
      assert.deepEqual(before.seqs(), [1, 2, 3, 4, 5]);
      assert.deepEqual(after.seqs(), [6, 7, 8]);
      assert.deepEqual(audit.seqs(), [1, 2, 3, 4, 5, 6, 7, 8]);
      await waitFor(async () => (await second.getOffset('s', 'projection')) === 8, { what: 'the offset commit' });
    });

    it('a handler that throws gets the same batch again, and nothing after it first', async (t) => {
      const bus = await (await setup(t))();
      await bus.append('s', [event('1'), event('2')]);
      const calls: { seqs: number[]; offset: number }[] = [];
      let failures = 0;
      bus.subscribe('s', { consumer: 'c', batchSize: 10 }, async (events) => {
        calls.push({ seqs: events.map((e) => e.seq), offset: await bus.getOffset('s', 'c') });
        if (failures < 2) {
          failures += 1;
          // Arrives while the batch is failing: must not join the retried batch nor overtake it.
          if (failures === 1) await bus.append('s', [event('3')]);
          throw new Error('projection failed');
        }
      });
      await waitFor(() => calls.some((call) => call.seqs.includes(3)), { what: 'event 3' });
      assert.deepEqual(calls, [
        { seqs: [1, 2], offset: 0 },
        { seqs: [1, 2], offset: 0 },
        { seqs: [1, 2], offset: 0 },
        { seqs: [3], offset: 2 },
      ]);
    });

    it('two appenders racing get unique, gap-free seqs', async (t) => {
      const open = await setup(t);
      const [one, two] = [await open(), await open()];
      const calls: Promise<number[]>[] = [];
      for (let i = 0; i < 40; i += 1) {
        calls.push(one.append('s', [event(`one-${i}-a`), event(`one-${i}-b`)]));
        calls.push(two.append('s', [event(`two-${i}`)]));
      }
      const results = await Promise.all(calls);
      for (const seqs of results)
        assert.ok(
          seqs.every((seq, i) => seq === seqs[0]! + i),
          `batch got ${seqs}`,
        );
      const all = results.flat().sort((a, b) => a - b);
      assert.deepEqual(all, ids(1, 120).map(Number));
      const events = await one.read('s');
      assert.deepEqual(
        events.map((e) => e.seq),
        all,
      );
      assert.equal(new Set(events.map((e) => e.id)).size, 120);
    });

    it('close() waits for an in-flight handler', async (t) => {
      const bus = await (await setup(t))();
      const order: string[] = [];
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      bus.subscribe('s', { after: 0 }, async () => {
        order.push('handler started');
        await gate;
        order.push('handler finished');
      });
      await bus.append('s', [event('1')]);
      await waitFor(() => order.length > 0, { what: 'the handler' });
      const closing = bus.close().then(() => order.push('closed'));
      await nextTurn();
      release();
      await closing;
      assert.deepEqual(order, ['handler started', 'handler finished', 'closed']);
    });

    it('after close() every call rejects with CLOSED and subscriptions stop', async (t) => {
      const open = await setup(t);
      const bus = await open();
      await bus.append('s', [event('1')]);
      const seen = collector();
      const subscription = bus.subscribe('s', { after: 0 }, seen.handler);
      await waitFor(() => seen.seqs().length === 1, { what: 'the first event' });
      await bus.close();
      await bus.close();
      const closed = { code: BusErrors.CLOSED };
      await assert.rejects(bus.append('s', [event('2')]), closed);
      await assert.rejects(bus.read('s'), closed);
      await assert.rejects(bus.head('s'), closed);
      await assert.rejects(bus.getOffset('s', 'c'), closed);
      await assert.rejects(bus.setOffset('s', 'c', 1), closed);
      assert.throws(() => bus.subscribe('s', { after: 0 }, seen.handler), closed);

      // Once a live subscriber has seen the next event, the closed one would have seen it too.
      const other = await open();
      await other.append('s', [event('2')]);
      const live = collector();
      other.subscribe('s', { after: 0 }, live.handler);
      await waitFor(() => live.seqs().length === 2, { what: 'the live subscriber' });
      assert.deepEqual(seen.seqs(), [1]);
      await subscription.close();
    });
  });
}

function event(id: string, data: unknown = { id }, headers?: Record<string, string>): NewEvent {
  return headers === undefined ? { id, type: 'thing.happened', data } : { id, type: 'thing.happened', data, headers };
}

/** '1'..'n' as strings, for event ids that read like their expected seqs. */
function ids(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
}

function collector() {
  const batches: StreamEvent[][] = [];
  return {
    batches,
    seqs: () => batches.flat().map((e) => e.seq),
    ids: () => batches.flat().map((e) => e.id),
    handler: async (events: StreamEvent[]) => {
      batches.push(events);
    },
  };
}
