// The Redis bus across a broker outage (issue 7), on a private redis-server that the test kills and
// starts again: calls made while it is down fail with UNAVAILABLE and never run later; subscriptions
// and consumers resume by themselves once it is back.
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';
import { needRedisServer } from '../../../test/helpers/redis.ts';
import { tmpDir } from '../../../test/helpers/tmp.ts';
import { waitFor, within } from '../../../test/helpers/wait-for.ts';
import { startBroker } from '../../lab/broker.ts';
import type { Bus, StreamEvent } from '../bus.ts';
import { BusErrors } from '../errors.ts';
import { openRedisBus } from './bus.ts';
import type { RedisContext } from './connection.ts';
import { type QueueScript, RedisConsumer } from './consumer.ts';
import { queueKeys } from './queues.ts';
import { RedisStreams } from './streams.ts';

const skip = needRedisServer();

async function brokerAndBus(t: TestContext) {
  const broker = await startBroker(tmpDir(t, 'archlab-outage-'));
  const errors: unknown[] = [];
  const bus = await openRedisBus(`${broker.url}?prefix=outage:`, { onError: (error) => errors.push(error) });
  // After-hooks run in the order they were added: the bus closes first (bounded, so that a close that
  // hangs fails the test rather than the whole file).
  t.after(() => within(bus.close(), 10_000, 'the bus to close'));
  t.after(() => broker.close());
  return { broker, bus, errors };
}

const unavailable = (error: unknown) => (error as { code?: string }).code === BusErrors.UNAVAILABLE;

it('issue 7: a call made while the broker is down fails with UNAVAILABLE and does not run once it is back', {
  skip,
}, async (t) => {
  const { broker, bus } = await brokerAndBus(t);
  await bus.append('s', [{ id: 'before', type: 'thing.happened', data: 1 }]);
  await broker.kill();
  await assert.rejects(bus.head('s'), unavailable);
  await assert.rejects(bus.enqueue('jobs', { n: 1 }, { id: 'refused' }), unavailable);
  await assert.rejects(bus.append('s', [{ id: 'refused', type: 'thing.happened', data: 2 }]), unavailable);
  await broker.start();
  await waitFor(() => bus.head('s'), { what: 'the bus to reconnect' });
  // The refused calls were not kept to run later: the caller was told they failed.
  assert.equal(await bus.head('s'), 1);
  assert.equal((await bus.counts('jobs')).waiting, 0);
  assert.deepEqual(await bus.enqueue('jobs', { n: 1 }, { id: 'refused' }), { id: 'refused', enqueued: true });
});

it('issue 7: a subscription and a consumer resume after the broker is killed and started again', {
  skip,
}, async (t) => {
  const { broker, bus, errors } = await brokerAndBus(t);
  const seen: StreamEvent[] = [];
  const subscription = bus.subscribe('s', { after: 0 }, async (events) => {
    seen.push(...events);
  });
  t.after(() => subscription.close());
  const done: string[] = [];
  const consumer = bus.consume('jobs', async (job) => {
    done.push(job.id);
  });
  t.after(() => consumer.close());
  await bus.append('s', [{ id: 'a', type: 'thing.happened', data: 1 }]);
  await bus.enqueue('jobs', null, { id: 'job-a' });
  await waitFor(() => seen.length === 1 && done.length === 1, { what: 'the first event and job' });

  await broker.kill();
  await waitFor(() => errors.some(unavailable), { what: 'the loops to notice the outage' });
  await broker.start();
  await waitFor(() => appendWhenBack(bus), { what: 'an append once the broker is back', timeoutMs: 10_000 });
  await bus.enqueue('jobs', null, { id: 'job-b' });
  await waitFor(() => seen.length === 2 && done.length === 2, { what: 'the second event and job', timeoutMs: 10_000 });
  assert.deepEqual(
    seen.map((event) => [event.seq, event.id]),
    [
      [1, 'a'],
      [2, 'b'],
    ],
  );
  assert.deepEqual(done, ['job-a', 'job-b']);
});

it('close() ends a subscription and a consumer while the broker is down', { skip }, async (t) => {
  const { broker, bus, errors } = await brokerAndBus(t);
  const seen: StreamEvent[] = [];
  bus.subscribe('s', { after: 0 }, async (events) => {
    seen.push(...events);
  });
  bus.consume('jobs', async () => {});
  await bus.append('s', [{ id: 'a', type: 'thing.happened', data: 1 }]);
  await waitFor(() => seen.length === 1, { what: 'the event' });
  await broker.kill();
  await waitFor(() => errors.some(unavailable), { what: 'the loops to notice the outage' });
  await within(bus.close(), 10_000, 'close() with the broker down');
});

// ioredis never settles a read that waits for a reconnect when disconnect() comes meanwhile, which is
// how close() ended a blocking read: with the broker down, close() then waited forever. Whether a real
// outage catches a read in that state depends on timing; a read that never settles stands for it here.
const neverSettles = () => new Promise<never>(() => {});

function fakeContext(connection: object): RedisContext {
  const ctx: RedisContext = {
    redis: { defineCommand() {} } as unknown as RedisContext['redis'],
    prefix: 'fake:',
    pollIntervalMs: 500,
    dedicated: () => connection as RedisContext['redis'],
    assertOpen() {},
    isOpen: () => false,
    guard: (call) => call,
    translate: (error) => error,
    report() {},
  };
  return ctx;
}

it('issue 7: closing a subscription does not wait for a blocking read the driver never settles', async () => {
  let reads = 0;
  const streams = new RedisStreams(
    fakeContext({
      xread: () => {
        reads++;
        return neverSettles();
      },
      disconnect() {},
    }),
  );
  const subscription = streams.subscribe('s', { after: 0 }, async () => {});
  await waitFor(() => reads === 1, { what: 'the blocking read' });
  await within(subscription.close(), 5000, 'the subscription to close');
});

it('issue 7: closing a consumer does not wait for a blocking read the driver never settles', async () => {
  let reads = 0;
  const connection = {
    on() {},
    disconnect() {},
    pipeline: () => ({
      client() {},
      xreadgroup() {},
      exec: () => {
        reads++;
        return neverSettles();
      },
    }),
  };
  const consumer = new RedisConsumer({
    ctx: fakeContext(connection),
    // The maintenance script finds nothing to do: no jobs, nothing due, cursor at the start.
    script: (async () => [[], '', '0-0', Date.now()]) as unknown as QueueScript,
    queue: 'jobs',
    keys: (queue) => queueKeys('fake:', queue),
    handler: async () => {},
    options: undefined,
    wake() {},
    onClosed() {},
  });
  await waitFor(() => reads === 1, { what: 'the blocking read' });
  await within(consumer.close(), 5000, 'the consumer to close');
});

async function appendWhenBack(bus: Bus): Promise<boolean> {
  await bus.append('s', [{ id: 'b', type: 'thing.happened', data: 2 }]);
  return true;
}
