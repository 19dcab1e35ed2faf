import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { it, type TestContext } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/ports.ts';
import { deleteKeys } from '../../test/helpers/redis.ts';
import { needRedis, REDIS_URL } from '../../test/helpers/services.ts';
import { tmpDir, uniqueName } from '../../test/helpers/tmp.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { busContract } from './bus.contract.ts';
import type { Bus, Job } from './bus.ts';
import { BusErrors } from './errors.ts';
import { queueContract } from './queue.contract.ts';
import { openRedisBus, type RedisBusOptions } from './redis/bus.ts';
import { compareEntries } from './redis/entries.ts';

const skip = await needRedis();

/** A fresh key prefix on the shared server; its keys are unlinked after the test. */
function location(t: TestContext, options?: RedisBusOptions) {
  const prefix = `${uniqueName('archlab_bus')}:`;
  t.after(() => deleteKeys(prefix));
  const url = new URL(REDIS_URL);
  url.searchParams.set('prefix', prefix);
  return { url: url.toString(), prefix, open: () => openRedisBus(url.toString(), options) };
}

/** Opens a bus that is closed after the test (before its keys are deleted). */
async function openBus(t: TestContext, options?: RedisBusOptions) {
  const opened: Bus[] = [];
  t.after(() => Promise.all(opened.map((bus) => bus.close())));
  const where = location(t, options);
  const open = async () => {
    const bus = await where.open();
    opened.push(bus);
    return bus;
  };
  return { ...where, bus: await open(), open };
}

busContract('redis', (t) => location(t).open, { skip });
queueContract('redis', location, { skip });

it('rejects malformed URLs with BAD_URL and an unreachable server with UNAVAILABLE, never echoing a password', async () => {
  const bad = ['redis://', 'redis://:s3cret@host/x', 'redis://:s3cret@host?db=1', 'http://:s3cret@host:6379'];
  for (const url of bad) {
    await assert.rejects(openRedisBus(url), (error: Error & { code?: string }) => {
      assert.equal(error.code, BusErrors.BAD_URL, url);
      assert.ok(!error.message.includes('s3cret'), error.message);
      return true;
    });
  }
  const port = await freePort();
  await assert.rejects(openRedisBus(`redis://user:s3cret@127.0.0.1:${port}`), (error: Error & { code?: string }) => {
    assert.equal(error.code, BusErrors.UNAVAILABLE);
    assert.equal((error as Error & { retryable?: boolean }).retryable, true);
    assert.ok(!error.message.includes('s3cret'), error.message);
    return true;
  });
});

it('orders stream entry ids by number, not as text', () => {
  // The ack script reads the lease table between the lowest and highest entry of a batch.
  const ids = ['10-0', '9-10', '1-0', '100-1', '9-9', '1-10', '9-5', '1-9'];
  assert.deepEqual(ids.sort(compareEntries), ['1-0', '1-9', '1-10', '9-5', '9-9', '9-10', '10-0', '100-1']);
});

it('keeps every key under its prefix, so buses with other prefixes do not see each other', { skip }, async (t) => {
  const one = await openBus(t);
  const two = await openBus(t);
  await one.bus.append('s', [{ id: 'a', type: 'thing.happened', data: null }]);
  await one.bus.enqueue('jobs', null, { id: 'j' });
  assert.equal(await two.bus.head('s'), 0);
  assert.equal((await two.bus.enqueue('jobs', null, { id: 'j' })).enqueued, true);
  assert.equal((await one.bus.counts('jobs')).waiting, 1);
  // deleteKeys(prefix) removing them proves they live under it; the count shows the bus wrote some.
  assert.ok((await deleteKeys(one.prefix)) > 0);
  assert.equal(await one.bus.head('s'), 0);
});

it('a delayed job or a retry from this process wakes a blocked consumer before its poll ends', { skip }, async (t) => {
  // A poll and a lease far beyond waitFor's deadline: only the in-process wake-up can deliver in time.
  const { bus } = await openBus(t, { pollIntervalMs: 600_000 });
  const seen: [string, number][] = [];
  bus.consume(
    'jobs',
    async (job) => {
      seen.push([job.id, job.attempt]);
      if (job.id === 'flaky' && job.attempt === 1) throw new Error('first attempt fails');
    },
    { leaseMs: 600_000, backoff: { baseMs: 50, capMs: 50, jitter: 0 } },
  );
  await bus.enqueue('jobs', null, { id: 'now' });
  await waitFor(() => seen.length === 1, { what: 'the first job' });
  await bus.enqueue('jobs', null, { id: 'later', delayMs: 50 });
  await waitFor(() => seen.length === 2, { what: 'the delayed job', timeoutMs: 5000 });
  await bus.enqueue('jobs', null, { id: 'flaky' });
  await waitFor(() => seen.length === 4, { what: 'the retry', timeoutMs: 5000 });
  assert.deepEqual(seen, [
    ['now', 1],
    ['later', 1],
    ['flaky', 1],
    ['flaky', 2],
  ]);
});

const STALL_CONSUMER = fileURLToPath(new URL('./fixtures/stall-consumer.ts', import.meta.url));

it('a consumer that stalls past its lease cannot complete the job delivered again meanwhile', { skip }, async (t) => {
  const { bus, url } = await openBus(t);
  const leaseMs = 300;
  const child = spawn(process.execPath, [STALL_CONSUMER, url, 'jobs', String(leaseMs)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const output = collect(child);
  await waitFor(() => output().includes('ready'), { what: 'the child consumer' });
  await bus.enqueue('jobs', 'x', { id: 'stalled' });
  await waitFor(() => output().includes('got stalled 1'), { what: 'the child to take the job' });
  child.kill('SIGSTOP');

  const taken: Job[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  bus.consume(
    'jobs',
    async (job) => {
      taken.push(job);
      await gate;
    },
    { leaseMs },
  );
  await waitFor(() => taken.length === 1, { what: 'the takeover after the lease' });
  assert.equal(taken[0]!.attempt, 2);

  // The child wakes up, finishes its handler (an ack, too late) and closes, which waits for that ack.
  child.kill('SIGCONT');
  child.stdin!.end();
  await waitFor(() => output().includes('closed'), { what: 'the child to settle and close' });
  const { leased, done } = await bus.counts('jobs');
  assert.deepEqual({ leased, done }, { leased: 1, done: 0 }, 'the late ack completed nothing');

  release();
  await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'the new holder to finish' });
  assert.equal(taken.length, 1);
});

it('jobs whose enqueue resolved survive SIGKILL of redis-server and are done once it is back', { skip }, async (t) => {
  const server = await redisServer(t);
  const url = `redis://127.0.0.1:${server.port}/0?prefix=crash:`;
  const buses: Bus[] = [];
  t.after(() => Promise.all(buses.map((bus) => bus.close())));
  for (let i = 0; i < 3; i++) buses.push(await openRedisBus(url));
  const [producer, ...consumers] = buses as [Bus, Bus, Bus];

  // The handler is idempotent by job id, as bus.ts asks: its side effect is recording the id once.
  const completed = new Set<string>();
  let redelivered = 0;
  for (const bus of consumers) {
    bus.consume(
      'jobs',
      async (job) => {
        assert.deepEqual(job.payload, { id: job.id });
        await nextTurn();
        if (completed.has(job.id)) redelivered++;
        else completed.add(job.id);
      },
      { concurrency: 8, leaseMs: 2000 },
    );
  }

  const perProducer = 2000;
  const acknowledged = new Set<string>();
  const attempted = new Set<string>();
  let failed = 0;
  const producers = [0, 1].map(async (p) => {
    for (let i = 0; i < perProducer; i++) {
      const id = `p${p}-${i}`;
      attempted.add(id);
      try {
        await producer.enqueue('jobs', { id }, { id });
        acknowledged.add(id);
      } catch {
        failed++;
      }
    }
  });
  await waitFor(() => acknowledged.size >= perProducer / 2, { what: 'a quarter of the jobs' });
  const beforeCrash = { acknowledged: acknowledged.size, completed: completed.size };
  await server.kill();
  await server.start();
  await Promise.all(producers);
  assert.ok(beforeCrash.acknowledged < 2 * perProducer, 'the crash came while producing');

  const missing = () => [...acknowledged].filter((id) => !completed.has(id));
  await waitFor(() => missing().length === 0, { what: 'every acknowledged job', timeoutMs: 30_000 }).catch(
    (error: unknown) => {
      throw new Error(`${missing().length} acknowledged jobs were never processed`, { cause: error });
    },
  );
  for (const id of completed) assert.ok(attempted.has(id), `${id} was never enqueued`);
  // Once quiet, the server holds each processed job as done exactly once, and nothing else.
  const expected = { waiting: 0, delayed: 0, leased: 0, done: completed.size, moved: 0, dead: 0 };
  await waitFor(async () => isDeepEqual(await producer.counts('jobs'), expected), { what: 'the final counts' });
  t.diagnostic(
    `before the crash ${beforeCrash.acknowledged} acknowledged, ${beforeCrash.completed} done; in all ` +
      `${acknowledged.size} acknowledged, ${failed} enqueues failed, ${completed.size} done, ` +
      `${redelivered} redelivered after completion`,
  );
});

function collect(child: ChildProcess): () => string {
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return () => output;
}

function isDeepEqual(actual: unknown, expected: unknown): boolean {
  try {
    assert.deepEqual(actual, expected);
    return true;
  } catch {
    return false;
  }
}

/** A private redis-server that fsyncs every write, so a SIGKILL loses nothing it acknowledged. */
async function redisServer(t: TestContext) {
  const dir = tmpDir(t);
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', 'yes', '--appendfsync', 'always');
  let child: ChildProcess | undefined;
  t.after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const start = async () => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = collect(child);
    child.stderr!.setEncoding('utf8').on('data', () => {});
    await waitFor(() => output().includes('Ready to accept connections'), { what: `redis-server on ${port}` });
  };
  const kill = async () => {
    const exited = once(child!, 'exit');
    child!.kill('SIGKILL');
    await exited;
  };
  await start();
  return { port, start, kill };
}
