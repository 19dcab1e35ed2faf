// SQLite-specific work-queue cases; the shared semantics are in queue.contract.ts (run from
// ../sqlite.test.ts). These cover what only a file shared by OS processes can show.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lockstepChild } from '../../../test/helpers/child.ts';
import { tmpDir } from '../../../test/helpers/tmp.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import type { Bus, Job } from '../bus.ts';
import { BusErrors } from '../errors.ts';
import { openSqliteBus, type SqliteBusOptions } from './bus.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/**
 * A fresh bus file; every bus opened on it is closed before its directory goes, after releasing every
 * gate (a failed assertion would otherwise leave close() waiting for a held handler).
 */
function workspace(t: TestContext) {
  const buses: Bus[] = [];
  const gates: (() => void)[] = [];
  t.after(() => {
    for (const release of gates) release();
    return Promise.all(buses.map((bus) => bus.close()));
  });
  const file = path.join(tmpDir(t), 'bus.db');
  const open = (options?: SqliteBusOptions) => {
    const bus = openSqliteBus(file, options);
    buses.push(bus);
    return bus;
  };
  /** A handler whose jobs wait until released, recording each delivery. */
  const gated = () => {
    const deliveries: Job[] = [];
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    gates.push(() => release());
    const handler = async (job: Job) => {
      deliveries.push(job);
      await gate;
    };
    return { deliveries, handler, release: () => release() };
  };
  return { file, open, gated };
}

/** The stall-consumer fixture on `file`'s queue 'jobs'; ending its stdin lets its handler resolve. */
function spawnStalled(t: TestContext, file: string, leaseMs: number) {
  const child = spawn(process.execPath, [fixture('stall-consumer.ts'), `sqlite:${file}`, 'jobs', String(leaseMs)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // SIGKILL, because a stopped process would hold any other signal until it is continued.
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return { child, exited, output: () => output };
}

it('two processes consuming one queue run every job exactly once', async (t) => {
  const { file, open } = workspace(t);
  const bus = open();
  // Not a multiple of the concurrency, so the last claims ask for more jobs than are waiting.
  const total = 250;
  for (let i = 0; i < total; i++) await bus.enqueue('jobs', i, { id: `j${i}` });
  const children = ['one', 'two'].map((name) =>
    lockstepChild(t, [fixture('consume-jobs.ts'), file, 'jobs', String(total), '4'], { what: `${name} to open` }),
  );
  await Promise.all(children.map((child) => child.ready()));
  for (const child of children) child.go();
  assert.deepEqual(await Promise.all(children.map((child) => child.exited)), [0, 0]);

  const handled = children.map((child) => [...child.output().matchAll(/^job (\S+)$/gm)].map((m) => m[1]!));
  const all = handled.flat();
  // Leases are 30 s and nobody dies, so a second delivery could only come from a claim that is not exclusive.
  assert.equal(all.length, total, 'no job delivered twice');
  assert.equal(new Set(all).size, total);
  assert.ok(
    handled.every((ids) => ids.length > 0),
    `both processes took jobs: ${handled.map((ids) => ids.length)}`,
  );
  assert.deepEqual(await bus.counts('jobs'), { waiting: 0, delayed: 0, leased: 0, done: total, moved: 0, dead: 0 });
});

it("a stalled consumer's late ack is ignored once its expired lease was taken over", async (t) => {
  if (process.platform === 'win32') return t.skip('needs SIGSTOP');
  const { file, open, gated } = workspace(t);
  const bus = open();
  await bus.enqueue('jobs', 'x', { id: 'stale' });
  const stalled = spawnStalled(t, file, 300);
  await waitFor(() => stalled.output().includes('got stale 1'), { what: 'the child to take the job' });
  stalled.child.kill('SIGSTOP');
  // An expired lease counts as waiting: the job is claimable again.
  await waitFor(async () => (await bus.counts('jobs')).waiting === 1, { what: 'the lease to expire' });

  const takeover = gated();
  bus.consume('jobs', takeover.handler);
  await waitFor(() => takeover.deliveries.length === 1, { what: 'the takeover' });
  assert.equal(takeover.deliveries[0]!.attempt, 2);

  stalled.child.kill('SIGCONT');
  stalled.child.stdin.end();
  assert.equal(await stalled.exited, 0);
  assert.match(stalled.output(), /closed/);
  // The child's handler resolved and its bus closed only after settling, so its ack has run.
  assert.deepEqual(await bus.counts('jobs'), { waiting: 0, delayed: 0, leased: 1, done: 0, moved: 0, dead: 0 });
  takeover.release();
  await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: "the new holder's ack" });
});

it('a local enqueue wakes an idle consumer without waiting for the poll', async (t) => {
  // A poll interval far beyond waitFor's deadline: only the in-process wake-up can deliver in time.
  const bus = workspace(t).open({ pollIntervalMs: 600_000 });
  const seen: string[] = [];
  bus.consume('jobs', async (job) => {
    seen.push(job.id);
  });
  await bus.enqueue('jobs', null, { id: 'a' });
  await waitFor(() => seen.length === 1, { what: 'the first job' });
  await bus.enqueue('jobs', null, { id: 'b' });
  await waitFor(() => seen.length === 2, { what: 'the second job', timeoutMs: 5000 });
  assert.deepEqual(seen, ['a', 'b']);
});

it('an idle consumer wakes for a delayed job and for a retry without waiting for the poll', async (t) => {
  const bus = workspace(t).open({ pollIntervalMs: 600_000 });
  const attempts: number[] = [];
  bus.consume(
    'jobs',
    async (job) => {
      attempts.push(job.attempt);
      if (job.attempt === 1) throw new Error('first attempt fails');
    },
    { backoff: { baseMs: 100, capMs: 100, jitter: 0 } },
  );
  await bus.enqueue('jobs', null, { id: 'later', delayMs: 100 });
  await waitFor(async () => (await bus.counts('jobs')).done === 1, { what: 'the delayed job and its retry' });
  assert.deepEqual(attempts, [1, 2]);
});

it('a move onto an id the next queue already holds leaves that job alone', async (t) => {
  const bus = workspace(t).open();
  await bus.enqueue('next', 'already there', { id: 'x' });
  await bus.enqueue('first', 'moving', { id: 'x' });
  bus.consume(
    'first',
    async () => {
      throw new Error('always');
    },
    { attempts: 1, next: 'next' },
  );
  await waitFor(async () => (await bus.counts('first')).moved === 1, { what: 'the move' });
  assert.equal((await bus.counts('next')).waiting, 1);
  const seen: Job[] = [];
  bus.consume('next', async (job) => {
    seen.push(job);
  });
  await waitFor(async () => (await bus.counts('next')).done === 1, { what: 'the next queue' });
  assert.deepEqual(
    seen.map((job) => [job.payload, job.from]),
    [['already there', []]],
  );
});

it('close() acks a running job before closing the file, then every queue call fails with CLOSED', async (t) => {
  const { open, gated } = workspace(t);
  const bus = open();
  await bus.enqueue('jobs', null, { id: 'running' });
  const job = gated();
  bus.consume('jobs', job.handler);
  await waitFor(() => job.deliveries.length === 1, { what: 'the handler' });
  let closed = false;
  const closing = bus.close().then(() => {
    closed = true;
  });
  await bus.counts('jobs').then(
    () => assert.fail('counts() during close() should reject'),
    (error) => assert.equal(error.code, BusErrors.CLOSED),
  );
  assert.equal(closed, false, 'close() waits for the running handler');
  job.release();
  await closing;
  assert.equal((await open().counts('jobs')).done, 1);

  const isClosed = { code: BusErrors.CLOSED };
  await assert.rejects(bus.enqueue('jobs', null), isClosed);
  await assert.rejects(bus.counts('jobs'), isClosed);
  await assert.rejects(bus.dead('jobs'), isClosed);
  await assert.rejects(bus.requeue('jobs', 'running'), isClosed);
  assert.throws(() => bus.consume('jobs', job.handler), isClosed);
});
