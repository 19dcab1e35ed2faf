import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { createBus } from '../../bus/create-bus.ts';
import { AppError, isAppError } from '../../kit/errors.ts';
import { createLogger } from '../../kit/logger.ts';
import { serveRequests, startRequester } from './request-reply.ts';

const log = createLogger({ level: 'silent' });

async function setup(t: TestContext) {
  const bus = await createBus('sqlite::memory:', { pollIntervalMs: 5 });
  const requester = startRequester(bus, { replyQueue: 'replies.a', log });
  t.after(async () => {
    await requester.close();
    await bus.close();
  });
  return { bus, requester };
}

test('a request gets the answer correlated to it, among many in flight', async (t) => {
  const { bus, requester } = await setup(t);
  const server = serveRequests<{ n: number }, number>(bus, 'squares', async ({ n }) => n * n, { log, concurrency: 4 });
  t.after(() => server.close());
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, n) => requester.request<number>('squares', { n }, { timeoutMs: 5000 })),
  );
  assert.deepEqual(
    answers,
    Array.from({ length: 20 }, (_, n) => n * n),
  );
});

test('a handler’s AppError travels back as itself; any other error as 500 internal', async (t) => {
  const { bus, requester } = await setup(t);
  const server = serveRequests<{ kind: string }, never>(
    bus,
    'failing',
    async ({ kind }) => {
      throw kind === 'app' ? new AppError(404, 'thing_not_found', 'no such thing') : new Error('boom');
    },
    { log },
  );
  t.after(() => server.close());
  await assert.rejects(
    requester.request('failing', { kind: 'app' }, { timeoutMs: 5000 }),
    (error) => isAppError(error) && error.status === 404 && error.code === 'thing_not_found',
  );
  await assert.rejects(
    requester.request('failing', { kind: 'other' }, { timeoutMs: 5000 }),
    (error) =>
      isAppError(error) && error.status === 500 && error.code === 'internal' && error.message === 'internal error',
  );
});

test('no answer by the deadline → 504 reply_timeout; the responder then drops the expired request', async (t) => {
  const { bus, requester } = await setup(t);
  await assert.rejects(
    requester.request('nobody-home', { q: 1 }, { timeoutMs: 50 }),
    (error) => isAppError(error) && error.status === 504 && error.code === 'reply_timeout',
  );
  let calls = 0;
  const server = serveRequests(
    bus,
    'nobody-home',
    async () => {
      calls += 1;
      return 'late';
    },
    { log },
  );
  t.after(() => server.close());
  await waitFor(async () => (await bus.counts('nobody-home')).done === 1, { what: 'the request to be taken' });
  assert.equal(calls, 0, 'the handler never ran for a request nobody waits for');
  assert.equal((await bus.counts('replies.a')).done, 0, 'and nothing was answered');
});

test('a late answer (after the deadline) is dropped, not delivered to another caller', async (t) => {
  const { bus, requester } = await setup(t);
  // A responder whose clock says the request is fresh, so it answers after the requester gave up.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server = serveRequests(
    bus,
    'slow',
    async () => {
      await gate;
      return 'late';
    },
    { log, now: () => 0 },
  );
  t.after(() => server.close());
  await assert.rejects(
    requester.request('slow', {}, { timeoutMs: 50 }),
    (error) => isAppError(error) && error.status === 504,
  );
  release();
  await waitFor(async () => (await bus.counts('replies.a')).done === 1, { what: 'the late answer to be taken' });
  const fast = serveRequests(bus, 'fast', async () => 'fresh', { log });
  t.after(() => fast.close());
  assert.equal(await requester.request('fast', {}, { timeoutMs: 5000 }), 'fresh');
});

test('a request the bus refuses rejects at once with the bus error', async (t) => {
  const { bus } = await setup(t);
  const refusing = startRequester(
    {
      ...bus,
      consume: bus.consume.bind(bus),
      counts: bus.counts.bind(bus),
      dead: bus.dead.bind(bus),
      requeue: bus.requeue.bind(bus),
      enqueue: async () => {
        throw new AppError(503, 'bus_unavailable', 'broker down');
      },
    },
    { replyQueue: 'replies.b', log },
  );
  t.after(() => refusing.close());
  await assert.rejects(
    refusing.request('anything', {}, { timeoutMs: 5000 }),
    (error) => isAppError(error) && error.code === 'bus_unavailable',
  );
});

test('a deadline that passes while the enqueue still waits for the broker rejects the caller, not the process', async (t) => {
  const { bus } = await setup(t);
  let release!: () => void;
  const brokerBack = new Promise<void>((resolve) => {
    release = resolve;
  });
  const waiting = startRequester(
    {
      consume: bus.consume.bind(bus),
      counts: bus.counts.bind(bus),
      dead: bus.dead.bind(bus),
      requeue: bus.requeue.bind(bus),
      enqueue: async () => {
        await brokerBack;
        throw new AppError(503, 'bus_unavailable', 'broker down');
      },
    },
    { replyQueue: 'replies.c', log },
  );
  t.after(() => waiting.close());
  const request = waiting.request('anything', {}, { timeoutMs: 20 });
  // Timers fire in order: the request's deadline (20 ms) passes before the enqueue gives up (60 ms).
  // Before the fix the deadline rejected a promise nothing awaited yet, and the process died of it.
  setTimeout(release, 60);
  await assert.rejects(request, (error) => isAppError(error) && error.code === 'bus_unavailable');
});
