// The work-queue half of the SQLite bus: one jobs table in the bus file, shared by every process.
// Each claim, ack, retry and renewal is a single statement (a move to the next queue is one
// synchronous transaction), so nothing interleaves with the stream half on the shared connection,
// and SQLite's write lock makes a claim exclusive across processes. Acks, failures and renewals only
// touch a job while it still carries the consumer's lease token: a consumer whose lease expired and
// was taken over cannot ack or fail the new holder's attempt.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { StatementSync } from 'node:sqlite';
import { type ResolvedConsumeOptions, resolveConsumeOptions, retryDelayMs } from '../backoff.ts';
import type {
  ConsumeOptions,
  Consumer,
  DeadJob,
  EnqueueOptions,
  Headers,
  Job,
  QueueCounts,
  WorkQueues,
} from '../bus.ts';
import { guard, type SqliteContext, transaction, translate } from './connection.ts';

const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

// state: waiting | leased | done | moved | dead. Rows stay in their final state so an id stays taken.
// available_at is when a waiting job may be leased and, for a leased job, when its lease expires
// (there is no separate lease_until): one partial index then finds both kinds of claimable job.
export const QUEUES_SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  queue TEXT NOT NULL,
  id TEXT NOT NULL,
  state TEXT NOT NULL,
  payload TEXT NOT NULL,
  headers TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  from_queues TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  lease_token TEXT,
  error TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (queue, id)
);
CREATE INDEX IF NOT EXISTS jobs_claimable ON jobs (queue, available_at) WHERE state IN ('waiting', 'leased');
CREATE INDEX IF NOT EXISTS jobs_dead ON jobs (queue, updated_at) WHERE state = 'dead';
`;

const JOB_COLUMNS = 'id, payload, headers, attempt, from_queues AS "from", enqueued_at AS enqueuedAt';

interface JobRow {
  id: string;
  payload: string;
  headers: string;
  attempt: number;
  from: string;
  enqueuedAt: number;
}

interface Lease {
  readonly job: Job;
  readonly token: string;
  /** Set once a renewal finds the token gone, so it is reported once. */
  lost: boolean;
  settled: Promise<void>;
}

interface ConsumerState {
  readonly queue: string;
  readonly options: ResolvedConsumeOptions;
  readonly handler: (job: Job) => Promise<void>;
  /** Keyed by lease, not job id: after an expiry this consumer may hold the same job twice. */
  readonly running: Set<Lease>;
  stopped: boolean;
  /** True while waiting for work, so a local enqueue may wake it. */
  idle: boolean;
  /** Ends the current pause early; set only while paused. */
  wake: (() => void) | undefined;
  done: Promise<void>;
}

// Lets close() called from inside a handler skip waiting for that handler, which would deadlock.
const insideHandler = new AsyncLocalStorage<ConsumerState>();

type Statement =
  | 'enqueue'
  | 'nextAvailable'
  | 'claim'
  | 'renew'
  | 'settle'
  | 'copyToNext'
  | 'counts'
  | 'dead'
  | 'requeue';

export class SqliteQueues implements WorkQueues {
  readonly #context: SqliteContext;
  readonly #consumers = new Set<ConsumerState>();
  readonly #sql: Record<Statement, StatementSync>;

  /** Expects QUEUES_SCHEMA to exist already. */
  constructor(context: SqliteContext) {
    this.#context = context;
    const db = context.db;
    const claimable = "queue = :queue AND state IN ('waiting', 'leased')";
    this.#sql = {
      enqueue: db.prepare(
        `INSERT INTO jobs (queue, id, state, payload, headers, attempt, from_queues, enqueued_at, available_at, updated_at)
         VALUES (:queue, :id, 'waiting', :payload, :headers, 0, '[]', :now, :availableAt, :now) ON CONFLICT DO NOTHING`,
      ),
      nextAvailable: db.prepare(`SELECT min(available_at) AS at FROM jobs WHERE ${claimable}`),
      // A waiting job whose time has come or a leased one whose lease expired, oldest first; the
      // token is random per job so a late ack from an earlier holder never matches.
      claim: db.prepare(
        `UPDATE jobs SET state = 'leased', attempt = attempt + 1, lease_token = lower(hex(randomblob(16))),
           available_at = :leaseUntil, updated_at = :now
         WHERE rowid IN (SELECT rowid FROM jobs WHERE ${claimable} AND available_at <= :now
                         ORDER BY available_at, rowid LIMIT :limit)
         RETURNING ${JOB_COLUMNS}, lease_token AS token`,
      ),
      renew: db.prepare(
        'UPDATE jobs SET available_at = :leaseUntil WHERE queue = :queue AND id = :id AND lease_token = :token',
      ),
      settle: db.prepare(
        `UPDATE jobs SET state = :state, lease_token = NULL, available_at = :availableAt, error = :error, updated_at = :now
         WHERE queue = :queue AND id = :id AND lease_token = :token`,
      ),
      // The WHERE is also what lets SQLite parse ON CONFLICT after INSERT … SELECT.
      copyToNext: db.prepare(
        `INSERT INTO jobs (queue, id, state, payload, headers, attempt, from_queues, enqueued_at, available_at, updated_at)
         SELECT :next, id, 'waiting', payload, headers, 0, :from, enqueued_at, :now, :now FROM jobs
         WHERE queue = :queue AND id = :id ON CONFLICT DO NOTHING`,
      ),
      counts: db.prepare(
        `SELECT coalesce(sum(state IN ('waiting', 'leased') AND available_at <= :now), 0) AS waiting,
           coalesce(sum(state = 'waiting' AND available_at > :now), 0) AS delayed,
           coalesce(sum(state = 'leased' AND available_at > :now), 0) AS leased,
           coalesce(sum(state = 'done'), 0) AS done,
           coalesce(sum(state = 'moved'), 0) AS moved,
           coalesce(sum(state = 'dead'), 0) AS dead
         FROM jobs WHERE queue = :queue`,
      ),
      dead: db.prepare(
        `SELECT ${JOB_COLUMNS}, error, updated_at AS failedAt FROM jobs WHERE queue = :queue AND state = 'dead'
         ORDER BY updated_at DESC, rowid DESC LIMIT :limit`,
      ),
      requeue: db.prepare(
        `UPDATE jobs SET state = 'waiting', attempt = 0, available_at = :now, error = NULL, updated_at = :now
         WHERE queue = :queue AND id = :id AND state = 'dead'`,
      ),
    };
  }

  async enqueue(
    queue: string,
    payload: unknown,
    options: EnqueueOptions = {},
  ): Promise<{ id: string; enqueued: boolean }> {
    this.#context.assertOpen();
    const { id = randomUUID(), delayMs = 0, headers = {} } = options;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, not ${delayMs}`);
    const row = { queue, id, payload: JSON.stringify(payload ?? null) ?? 'null', headers: JSON.stringify(headers) };
    const now = Date.now();
    const { changes } = guard(() => this.#sql.enqueue.run({ ...row, now, availableAt: now + delayMs }));
    const enqueued = Number(changes) > 0;
    // Even a delayed job wakes idle consumers: they recompute when to look next.
    if (enqueued) this.#wakeIdle(queue);
    return { id, enqueued };
  }

  consume(queue: string, handler: (job: Job) => Promise<void>, options?: ConsumeOptions): Consumer {
    this.#context.assertOpen();
    const state: ConsumerState = {
      queue,
      options: resolveConsumeOptions(options),
      handler,
      running: new Set(),
      stopped: false,
      idle: false,
      wake: undefined,
      done: Promise.resolve(),
    };
    this.#consumers.add(state);
    state.done = this.#run(state).finally(() => this.#consumers.delete(state));
    return {
      close: async () => {
        stop(state);
        if (insideHandler.getStore() !== state) await state.done;
      },
    };
  }

  async counts(queue: string): Promise<QueueCounts> {
    this.#context.assertOpen();
    return guard(() => ({ ...(this.#sql.counts.get({ queue, now: Date.now() }) as unknown as QueueCounts) }));
  }

  async dead(queue: string, options: { limit?: number } = {}): Promise<DeadJob[]> {
    this.#context.assertOpen();
    // LIMIT -1 is SQLite for "no limit".
    const rows = guard(() => this.#sql.dead.all({ queue, limit: options.limit ?? -1 })) as unknown as (JobRow & {
      error: string;
      failedAt: number;
    })[];
    return rows.map((row) => ({ ...toJob(queue, row), error: row.error, failedAt: row.failedAt }));
  }

  async requeue(queue: string, id: string): Promise<boolean> {
    this.#context.assertOpen();
    const { changes } = guard(() => this.#sql.requeue.run({ queue, id, now: Date.now() }));
    if (Number(changes) === 0) return false;
    this.#wakeIdle(queue);
    return true;
  }

  /** Stops every consumer and resolves once their running handlers have settled (the bus closes the file after). */
  async stop(): Promise<void> {
    const current = insideHandler.getStore();
    const running = [...this.#consumers];
    for (const state of running) stop(state);
    await Promise.all(running.filter((state) => state !== current).map((state) => state.done));
  }

  async #run(state: ConsumerState): Promise<void> {
    const { queue, options } = state;
    // One timer renews every lease this consumer holds; a third of leaseMs leaves two renewals of slack.
    const renewal = setInterval(() => this.#renewAll(state), Math.max(1, Math.floor(options.leaseMs / 3)));
    let backoffMs = FIRST_BACKOFF_MS;
    try {
      while (!state.stopped) {
        const free = options.concurrency - state.running.size;
        if (free === 0) {
          // A settling handler wakes the loop.
          await pause(state, undefined);
          continue;
        }
        let waitMs: number;
        try {
          const now = Date.now();
          // A read first, so idle consumers polling the file do not queue up for the write lock.
          const next = (this.#sql.nextAvailable.get({ queue }) as { at: number | null }).at;
          if (next !== null && next <= now) {
            const jobs = this.#sql.claim.all({ queue, now, leaseUntil: now + options.leaseMs, limit: free });
            for (const row of jobs as unknown as (JobRow & { token: string })[]) this.#start(state, row);
            backoffMs = FIRST_BACKOFF_MS;
            if (jobs.length > 0) continue;
          }
          // Waking for the earliest delayed job (or expiring lease) keeps delays precise under a long poll.
          const poll = this.#context.pollIntervalMs;
          waitMs = next === null ? poll : Math.min(poll, Math.max(0, next - now));
        } catch (error) {
          this.#context.report(translate(error));
          await pause(state, backoffMs);
          backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
          continue;
        }
        state.idle = true;
        await pause(state, waitMs);
        state.idle = false;
      }
      await Promise.all([...state.running].map((lease) => lease.settled));
    } finally {
      clearInterval(renewal);
    }
  }

  #start(state: ConsumerState, row: JobRow & { token: string }): void {
    const lease: Lease = { job: toJob(state.queue, row), token: row.token, lost: false, settled: Promise.resolve() };
    state.running.add(lease);
    lease.settled = (async () => {
      let failure: { error: unknown } | undefined;
      if (lease.job.attempt > state.options.attempts) {
        // Delivered again because every earlier holder died with it (a poison job that kills its
        // consumer): its attempts are used up, so it moves on instead of killing the next consumer.
        failure = {
          error: new Error(`lease expired on attempt ${lease.job.attempt - 1}: its consumer stopped renewing`),
        };
      } else {
        try {
          await insideHandler.run(state, () => state.handler(lease.job));
        } catch (error) {
          failure = { error };
          this.#context.report(error);
        }
      }
      try {
        this.#settle(state, lease, failure);
      } catch (error) {
        // The job stays leased; once the lease expires it is delivered again.
        this.#context.report(translate(error));
      }
      state.running.delete(lease);
      state.wake?.();
    })();
  }

  /** Acks or fails one attempt; a no-op when the lease was taken over meanwhile. */
  #settle(state: ConsumerState, lease: Lease, failure: { error: unknown } | undefined): void {
    const db = this.#context.db;
    // close() from inside a handler may already have closed the file: the lease then expires.
    if (!db.isOpen) return;
    const { queue, options } = state;
    const { job, token } = lease;
    const now = Date.now();
    const key = { queue, id: job.id, token, now, availableAt: now };
    if (failure === undefined) {
      this.#sql.settle.run({ ...key, state: 'done', error: null });
      return;
    }
    const error = failure.error instanceof Error ? failure.error.message : String(failure.error);
    if (job.attempt < options.attempts) {
      const availableAt = now + retryDelayMs(job.attempt, options.backoff);
      this.#sql.settle.run({ ...key, state: 'waiting', availableAt, error });
      // Other local consumers of this queue may be sleeping past the retry time.
      this.#wakeIdle(queue);
      return;
    }
    const next = options.next;
    if (next === undefined) {
      this.#sql.settle.run({ ...key, state: 'dead', error });
      return;
    }
    // One transaction, so a crash can neither lose the job between queues nor copy it without
    // retiring it here; checking the token first keeps a stale holder from moving the job.
    const moved = transaction(db, () => {
      if (Number(this.#sql.settle.run({ ...key, state: 'moved', error }).changes) === 0) return false;
      this.#sql.copyToNext.run({ next, from: JSON.stringify([...job.from, queue]), now, queue, id: job.id });
      return true;
    });
    if (moved) this.#wakeIdle(next);
  }

  #renewAll(state: ConsumerState): void {
    if (!this.#context.db.isOpen) return;
    const leaseUntil = Date.now() + state.options.leaseMs;
    for (const lease of state.running) {
      if (lease.lost) continue;
      try {
        const { changes } = this.#sql.renew.run({
          queue: state.queue,
          id: lease.job.id,
          token: lease.token,
          leaseUntil,
        });
        if (Number(changes) > 0) continue;
        lease.lost = true;
        this.#context.report(
          new Error(`lost the lease on job ${lease.job.id} of ${state.queue}: it expired and was delivered again`),
        );
      } catch (error) {
        // The next tick tries again; the lease has two more renewals of slack.
        this.#context.report(translate(error));
      }
    }
  }

  #wakeIdle(queue: string): void {
    for (const state of this.#consumers) if (state.idle && state.queue === queue) state.wake?.();
  }
}

function toJob(queue: string, row: JobRow): Job {
  return {
    id: row.id,
    queue,
    payload: JSON.parse(row.payload) as unknown,
    headers: JSON.parse(row.headers) as Headers,
    attempt: row.attempt,
    from: JSON.parse(row.from) as string[],
    enqueuedAt: row.enqueuedAt,
  };
}

/** Waits `ms`, or until woken when `ms` is undefined; stop() and wake() end it early. */
function pause(state: ConsumerState, ms: number | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = ms === undefined ? undefined : setTimeout(() => state.wake?.(), ms);
    state.wake = () => {
      clearTimeout(timer);
      state.wake = undefined;
      resolve();
    };
    if (state.stopped) state.wake();
  });
}

function stop(state: ConsumerState): void {
  state.stopped = true;
  state.wake?.();
}
