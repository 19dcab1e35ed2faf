// The work-queue semantics bus.ts promises, checked against one backend. Each backend's test file
// calls queueContract() in one line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { waitFor, within } from '../../test/helpers/wait-for.ts';
import type { Bus, Job } from './bus.ts';

export interface QueueLocation {
  /** Opens one more handle on the same bus. */
  open: () => Promise<Bus>;
  /** What a child process passes to createBus() to reach the same bus. */
  url: string;
}

const HANG_CONSUMER = fileURLToPath(new URL('./fixtures/hang-consumer.ts', import.meta.url));
const FAST = { baseMs: 20, capMs: 100, jitter: 0 };

export function queueContract(
  name: string,
  location: (t: TestContext) => QueueLocation | Promise<QueueLocation>,
  options: { skip?: string | false } = {},
): void {
  async function setup(t: TestContext) {
    const opened: Bus[] = [];
    t.after(() => Promise.all(opened.map((bus) => bus.close())));
    const where = await location(t);
    const open = async () => {
      const bus = await where.open();
      opened.push(bus);
      return bus;
    };
    return { open, url: where.url, bus: await open() };
  }

  /** Collects deliveries; `fail(job)` decides whether the handler throws. */
  function recorder(fail: (job: Job) => boolean = () => false) {
    const deliveries: (Job & { at: number })[] = [];
    const handler = async (job: Job) => {
      deliveries.push({ ...job, at: performance.now() });
      if (fail(job)) throw new Error(`planned failure of ${job.id} attempt ${job.attempt}`);
    };
    return { deliveries, handler };
  }

  describe(`${name} work-queue contract`, { skip: options.skip }, () => {
    it('delivers payload, headers, attempt 1 and its queue; ack makes it done', async (t) => {
      const { bus } = await setup(t);
      const { id, enqueued } = await bus.enqueue('jobs', { n: 1 }, { id: 'job-1', headers: { traceparent: 'tp' } });
      assert.deepEqual({ id, enqueued }, { id: 'job-1', enqueued: true });
      assert.equal((await bus.counts('jobs')).waiting, 1);
      const { deliveries, handler } = recorder();
      bus.consume('jobs', handler);
      await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'the job to be done' });
      assert.equal(deliveries.length, 1);
      const [job] = deliveries;
      assert.deepEqual(
        { id: job!.id, queue: job!.queue, payload: job!.payload, attempt: job!.attempt, from: job!.from },
        { id: 'job-1', queue: 'jobs', payload: { n: 1 }, attempt: 1, from: [] },
      );
      assert.equal(job!.headers.traceparent, 'tp');
      assert.ok(job!.enqueuedAt > 0);
      assert.deepEqual(await bus.counts('jobs'), { waiting: 0, delayed: 0, leased: 0, done: 1, moved: 0, dead: 0 });
    });

    it('enqueue is idempotent by id, in any state', async (t) => {
      const { bus } = await setup(t);
      assert.equal((await bus.enqueue('jobs', { v: 1 }, { id: 'same' })).enqueued, true);
      assert.equal((await bus.enqueue('jobs', { v: 2 }, { id: 'same' })).enqueued, false);
      const { deliveries, handler } = recorder();
      bus.consume('jobs', handler);
      await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'done' });
      assert.equal((await bus.enqueue('jobs', { v: 3 }, { id: 'same' })).enqueued, false, 'done ids stay taken');
      assert.equal((await bus.enqueue('other', { v: 4 }, { id: 'same' })).enqueued, true, 'ids are per queue');
      assert.deepEqual(
        deliveries.map((d) => d.payload),
        [{ v: 1 }],
      );
      const anonymous = await bus.enqueue('jobs', { v: 5 });
      assert.equal(anonymous.enqueued, true);
      assert.ok(anonymous.id.length > 0);
    });

    it('a failing job is retried with growing backoff, attempt numbers counting up', async (t) => {
      const { bus } = await setup(t);
      await bus.enqueue('jobs', 'x', { id: 'flaky' });
      const { deliveries, handler } = recorder((job) => job.attempt < 3);
      bus.consume('jobs', handler, { attempts: 3, backoff: { baseMs: 60, capMs: 1000, jitter: 0 } });
      await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'the third attempt to succeed' });
      assert.deepEqual(
        deliveries.map((d) => d.attempt),
        [1, 2, 3],
      );
      // Lower bounds only: a slow machine can be late, never early.
      assert.ok(deliveries[1]!.at - deliveries[0]!.at >= 55, 'first retry waits baseMs');
      assert.ok(deliveries[2]!.at - deliveries[1]!.at >= 115, 'second retry waits 2 × baseMs');
    });

    it('exhausted attempts move the job along its chain, then to dead', async (t) => {
      const { bus } = await setup(t);
      await bus.enqueue('register', { email: 'a@b.co' }, { id: 'u1' });
      const always = recorder(() => true);
      bus.consume('register', always.handler, { attempts: 2, backoff: FAST, next: 'register.redundancy1' });
      bus.consume('register.redundancy1', always.handler, { attempts: 1, backoff: FAST, next: 'register.redundancy2' });
      bus.consume('register.redundancy2', always.handler, { attempts: 1, backoff: FAST });
      await waitFor(async () => (await bus.counts('register.redundancy2')).dead === 1, {
        what: 'the end of the chain',
      });
      assert.deepEqual(
        always.deliveries.map((d) => [d.queue, d.attempt, d.from]),
        [
          ['register', 1, []],
          ['register', 2, []],
          ['register.redundancy1', 1, ['register']],
          ['register.redundancy2', 1, ['register', 'register.redundancy1']],
        ],
      );
      assert.ok(always.deliveries.every((d) => d.id === 'u1' && (d.payload as { email: string }).email === 'a@b.co'));
      assert.equal(new Set(always.deliveries.map((d) => d.enqueuedAt)).size, 1, 'enqueuedAt kept across moves');
      assert.equal((await bus.counts('register')).moved, 1);
      assert.equal((await bus.counts('register.redundancy1')).moved, 1);
      const [dead] = await bus.dead('register.redundancy2');
      assert.equal(dead?.id, 'u1');
      assert.deepEqual(dead?.from, ['register', 'register.redundancy1']);
      assert.match(dead!.error, /planned failure of u1/);
      assert.ok(dead!.failedAt > 0);
    });

    it('a dead job can be requeued and then succeeds', async (t) => {
      const { bus } = await setup(t);
      await bus.enqueue('jobs', 1, { id: 'd1' });
      let healthy = false;
      const { deliveries, handler } = recorder(() => !healthy);
      bus.consume('jobs', handler, { attempts: 1, backoff: FAST });
      await waitFor(async () => (await bus.counts('jobs')).dead === 1, { what: 'dead' });
      assert.equal(await bus.requeue('jobs', 'nope'), false);
      healthy = true;
      assert.equal(await bus.requeue('jobs', 'd1'), true);
      await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'the requeued job' });
      assert.deepEqual(
        deliveries.map((d) => d.attempt),
        [1, 1],
      );
      assert.deepEqual(await bus.dead('jobs'), []);
    });

    it('a delayed job waits at least its delay', async (t) => {
      const { bus } = await setup(t);
      const enqueuedAt = performance.now();
      await bus.enqueue('jobs', 'later', { id: 'late', delayMs: 250 });
      assert.equal((await bus.counts('jobs')).delayed, 1);
      await bus.enqueue('jobs', 'now', { id: 'now' });
      const { deliveries, handler } = recorder();
      bus.consume('jobs', handler);
      await waitFor(async () => (await bus.counts('jobs')).done === 2, { what: 'both jobs' });
      assert.deepEqual(
        deliveries.map((d) => d.id),
        ['now', 'late'],
      );
      assert.ok(deliveries[1]!.at - enqueuedAt >= 245, 'not delivered before its delay');
    });

    /** Enqueues `id`, lets a child consumer take it, and SIGKILLs the child mid-job. */
    async function killedMidJob(t: TestContext, bus: Bus, url: string, id: string, leaseMs: number) {
      const child = spawn(process.execPath, [HANG_CONSUMER, url, 'jobs', String(leaseMs)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
      });
      await waitFor(() => output.includes('ready'), { what: 'the child consumer' });
      await bus.enqueue('jobs', { important: true }, { id });
      await waitFor(() => output.includes(`got ${id} 1`), { what: 'the child to take the job' });
      assert.equal((await bus.counts('jobs')).leased, 1);
      child.kill('SIGKILL');
      await within(exited, 10_000, 'the child to die');
    }

    it('a job whose consumer was SIGKILLed is redelivered after the lease, attempt + 1', async (t) => {
      const { bus, url } = await setup(t);
      const leaseMs = 400;
      await killedMidJob(t, bus, url, 'mid-job', leaseMs);

      const { deliveries, handler } = recorder();
      bus.consume('jobs', handler, { leaseMs });
      await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'redelivery after the lease' });
      assert.deepEqual(
        deliveries.map((d) => [d.id, d.attempt]),
        [['mid-job', 2]],
      );
    });

    it('a poison job that killed its consumer on its last attempt moves on instead of running again', async (t) => {
      const { bus, url } = await setup(t);
      const leaseMs = 400;
      await killedMidJob(t, bus, url, 'poison', leaseMs);
      const { deliveries, handler } = recorder();
      bus.consume('jobs', handler, { leaseMs, attempts: 1 });
      await waitFor(async () => (await bus.counts('jobs')).dead === 1, { what: 'the poison job to be dead' });
      assert.deepEqual(deliveries, [], 'never handed to a second consumer');
      const [dead] = await bus.dead('jobs');
      assert.equal(dead?.id, 'poison');
      assert.match(dead!.error, /lease expired on attempt 1/);
    });

    it('concurrent consumers never run one job twice while its lease is live', async (t) => {
      const { open } = await setup(t);
      const [producer, a, b] = [await open(), await open(), await open()];
      // Not a multiple of the concurrency, and every job held a moment, so two consumers really compete.
      const jobs = 101;
      for (let i = 0; i < jobs; i++) await producer.enqueue('jobs', i, { id: `j${i}` });
      const running = new Set<string>();
      const completed = new Map<string, number>();
      let overlaps = 0;
      const leaseMs = 300;
      const handler = async (job: Job) => {
        if (running.has(job.id)) overlaps++;
        running.add(job.id);
        // A few jobs outlive their lease several times over: renewal must keep them exclusive.
        await delay(job.id.endsWith('7') ? leaseMs * 2 : 5);
        running.delete(job.id);
        completed.set(job.id, (completed.get(job.id) ?? 0) + 1);
      };
      a.consume('jobs', handler, { concurrency: 8, leaseMs });
      b.consume('jobs', handler, { concurrency: 8, leaseMs });
      await waitFor(async () => (await producer.counts('jobs')).done === jobs, { what: 'all jobs', timeoutMs: 30_000 });
      assert.equal(overlaps, 0);
      assert.equal(completed.size, jobs);
      assert.deepEqual(
        [...completed.values()].filter((n) => n > 1),
        [],
        'no job ran twice',
      );
    });
  });
}
