// One consume() call on the Redis bus. Its loop leases jobs with XREADGROUP BLOCK on a connection of
// its own (up to the free concurrency; a new entry wakes it at once), and now and then runs the
// maintenance script instead: making due delayed jobs waiting and taking over expired leases. Handlers
// that finish together are acked by one script call; a timer renews the leases of running handlers.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { isAppError } from '../../kit/errors.ts';
import { type ResolvedConsumeOptions, resolveConsumeOptions, retryDelayMs } from '../backoff.ts';
import type { ConsumeOptions, Consumer, Job } from '../bus.ts';
import { type defineScripts, halted, type RedisContext } from './connection.ts';
import { compareEntries, type ReadReply, toJob } from './entries.ts';
import { GROUP, type QUEUE_SCRIPTS, type QueueKeys } from './queue-scripts.ts';

export type QueueScript = ReturnType<typeof defineScripts<keyof typeof QUEUE_SCRIPTS>>;

const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;
// close() unblocks the blocking read; if the server cannot be told (it is away), the read is cut off.
const CLOSE_GRACE_MS = 1000;
// Keeps a script's argument list well inside Lua's unpack() limit (about 8000) at any concurrency.
const MAX_BATCH = 1000;

type MaintainReply = [
  jobs: [entry: string, fields: string[], deliveries: number][],
  nextDue: string,
  cursor: string,
  now: number,
];

interface Delivery {
  readonly job: Job;
  /** The job's stream entry: what the consumer group leases. */
  readonly entry: string;
  /** The entry's delivery count when it was leased to us: with our name, the lease token. */
  readonly deliveries: string;
  lost: boolean;
  settled: Promise<void>;
}

export interface ConsumerSetup {
  ctx: RedisContext;
  script: QueueScript;
  queue: string;
  keys: (queue: string) => QueueKeys;
  handler: (job: Job) => Promise<void>;
  options: ConsumeOptions | undefined;
  /** Wakes this process's consumers of a queue (a retry was scheduled there). */
  wake: (queue: string) => void;
  onClosed: () => void;
}

// Lets close() called from inside a handler skip waiting for that handler, which would deadlock.
const insideHandler = new AsyncLocalStorage<Delivery>();

export class RedisConsumer implements Consumer {
  readonly queue: string;
  readonly #setup: ConsumerSetup;
  readonly #ctx: RedisContext;
  readonly #options: ResolvedConsumeOptions;
  readonly #keys: QueueKeys;
  /** Unique per consume() call, so a lease names exactly one holder. */
  readonly #name = `${hostname()}:${process.pid}:${randomUUID()}`;
  readonly #running = new Map<string, Delivery>();
  readonly #loop: Promise<void>;
  readonly #renewal: NodeJS.Timeout;
  /** Settled when close() cuts off a blocking read (see halted()). */
  readonly #cut = halted();
  #connection: Redis | undefined;
  /** The blocking connection's client id, so wake() can unblock its read. */
  #clientId: number | undefined;
  /** A blocking read is under way. */
  #reading = false;
  /** The last lease call found as many jobs as it asked for: more are likely waiting. */
  #busy = false;
  /** Ends the loop's current pause (waiting for a free slot or backing off). */
  #resume: (() => void) | undefined;
  /** wake() was called: run the maintenance script before blocking again. */
  #woken = false;
  #maintainAt = 0;
  #reclaimAt = 0;
  #cursor = '0-0';
  #acks: { delivery: Delivery; resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** A call that leases jobs (maintenance, read, ack with lease) is under way: one at a time. */
  #leasing = false;
  #renewing = false;
  #stopped = false;
  #closing: Promise<void> | undefined;

  constructor(setup: ConsumerSetup) {
    this.#setup = setup;
    this.#ctx = setup.ctx;
    this.queue = setup.queue;
    this.#options = resolveConsumeOptions(setup.options);
    this.#keys = setup.keys(setup.queue);
    // A third of leaseMs leaves two renewals of slack before a live lease could expire.
    this.#renewal = setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.#options.leaseMs / 3)));
    this.#renewal.unref();
    this.#loop = this.#run();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stopped = true;
      this.#resume?.();
      this.wake();
      const cutOff = setTimeout(() => {
        this.#cut.halt();
        this.#connection?.disconnect();
      }, CLOSE_GRACE_MS);
      await this.#loop;
      clearTimeout(cutOff);
      this.#connection?.disconnect();
      const current = insideHandler.getStore();
      await Promise.all([...this.#running.values()].filter((d) => d !== current).map((d) => d.settled));
      clearInterval(this.#renewal);
      if (this.#ctx.isOpen() && current === undefined) {
        try {
          await this.#ctx.guard(this.#setup.script('archlabRetire', [this.#keys.stream], [this.#name]));
        } catch (error) {
          this.#ctx.report(error);
        }
      }
      this.#setup.onClosed();
    })();
    return this.#closing;
  }

  /** Looks again now (runs the maintenance script) instead of at the end of the current wait. */
  wake(): void {
    this.#woken = true;
    // A read sent but not yet blocked on the server misses the unblock; it then waits out its time.
    if (!this.#reading || this.#clientId === undefined) return;
    this.#ctx.redis.client('UNBLOCK', this.#clientId).catch(() => {});
  }

  async #run(): Promise<void> {
    const { concurrency, leaseMs } = this.#options;
    // Expired leases are looked for this often; with renewal every leaseMs / 3 a dead consumer's job
    // is delivered again between leaseMs and leaseMs + this later.
    const reclaimEveryMs = Math.min(this.#ctx.pollIntervalMs, Math.ceil(leaseMs / 2));
    let backoffMs = FIRST_BACKOFF_MS;
    while (!this.#stopped) {
      const free = concurrency - this.#running.size;
      if (free <= 0 || this.#leasing) {
        await this.#pause(undefined);
        // Handlers that finish together free their slots together: one read then leases them all.
        await nextTurn();
        continue;
      }
      this.#leasing = true;
      try {
        // Within a millisecond counts as due: a shorter wait cannot be blocked for.
        if (this.#woken || Date.now() + 1 > this.#maintainAt) {
          this.#woken = false;
          const caughtUp = await this.#maintain(free, reclaimEveryMs);
          if (!caughtUp) continue;
        }
        const waitMs = Math.min(this.#ctx.pollIntervalMs, this.#maintainAt - Date.now());
        if (waitMs >= 1 && !this.#woken && !this.#stopped) await this.#read(free, waitMs);
        backoffMs = FIRST_BACKOFF_MS;
      } catch (error) {
        if (this.#stopped) break;
        this.#ctx.report(error);
        // The maintenance script comes first after an error: it recreates a missing group.
        this.#maintainAt = 0;
        this.#leasing = false;
        await this.#pause(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      } finally {
        this.#leasing = false;
      }
    }
  }

  /** Runs the maintenance script; true when it found fewer jobs than there are free slots. */
  async #maintain(free: number, reclaimEveryMs: number): Promise<boolean> {
    const k = this.#keys;
    const reclaim = Date.now() >= this.#reclaimAt;
    const [jobs, nextDue, cursor, now] = (await this.#ctx.guard(
      this.#setup.script(
        'archlabMaintain',
        [k.stream, k.delayed],
        [k.jobPrefix, this.#name, free, reclaim ? this.#options.leaseMs : '', this.#cursor],
      ),
    )) as MaintainReply;
    this.#cursor = cursor;
    if (reclaim) this.#reclaimAt = Date.now() + reclaimEveryMs;
    // Due times are on the server's clock; the wait is on this host's.
    const dueAt = nextDue === '' ? Number.POSITIVE_INFINITY : Date.now() + (Number(nextDue) - now);
    this.#maintainAt = Math.min(this.#reclaimAt, dueAt);
    for (const [entry, fields, deliveries] of jobs) this.#start(entry, fields, deliveries);
    this.#busy = jobs.length === free;
    return !this.#busy;
  }

  /** Leases up to `free` new jobs, waiting up to `waitMs` for one to be enqueued (or for wake()). */
  async #read(free: number, waitMs: number): Promise<void> {
    const connection = this.#connect();
    const [stream, block] = [this.#keys.stream, Math.ceil(waitMs)];
    let read: Promise<unknown>;
    if (this.#clientId === undefined) {
      // Asked once per connection, in one write with the read, so the id names this client.
      const pipeline = connection.pipeline();
      pipeline.client('ID', (error, id) => {
        if (!error) this.#clientId = id as number;
      });
      pipeline.xreadgroup('GROUP', GROUP, this.#name, 'COUNT', free, 'BLOCK', block, 'STREAMS', stream, '>');
      read = pipeline.exec().then((results) => {
        const [, [error, reply] = []] = results ?? [];
        if (error) throw error;
        return reply;
      });
    } else {
      read = connection.xreadgroup('GROUP', GROUP, this.#name, 'COUNT', free, 'BLOCK', block, 'STREAMS', stream, '>');
    }
    this.#reading = true;
    try {
      const entries = ((await Promise.race([this.#ctx.guard(read), this.#cut.halted])) as ReadReply)?.[0]?.[1] ?? [];
      this.#busy = entries.length === free;
      // Started even when closing: they are leased to this consumer already.
      for (const [entry, fields] of entries) this.#start(entry, fields, 1);
    } finally {
      this.#reading = false;
    }
  }

  /** The connection for blocking reads, made on first use; its client id is what wake() unblocks. */
  #connect(): Redis {
    if (this.#connection) return this.#connection;
    const connection = this.#ctx.dedicated();
    // A reconnected socket is another client.
    connection.on('close', () => {
      this.#clientId = undefined;
    });
    this.#connection = connection;
    return connection;
  }

  #start(entry: string, fields: string[], deliveries: number): void {
    const job = toJob(this.queue, fields, deliveries);
    const delivery: Delivery = { job, entry, deliveries: String(deliveries), lost: false, settled: Promise.resolve() };
    this.#running.set(entry, delivery);
    delivery.settled = this.#execute(delivery).finally(() => {
      this.#running.delete(entry);
      this.#resume?.();
    });
  }

  async #execute(delivery: Delivery): Promise<void> {
    const { job } = delivery;
    let failure: { error: unknown } | undefined;
    if (job.attempt > this.#options.attempts) {
      // Its last attempt ended with its consumer gone (the lease expired): that attempt failed too.
      failure = { error: new Error(`lease expired on attempt ${job.attempt - 1}: its consumer stopped renewing`) };
    } else {
      try {
        await insideHandler.run(delivery, () => this.#setup.handler(job));
      } catch (error) {
        failure = { error };
        this.#ctx.report(error);
      }
    }
    await this.#settle(delivery, failure);
  }

  /** Acks or fails the attempt; retries while the broker is away and the lease may still be ours. */
  async #settle(delivery: Delivery, failure: { error: unknown } | undefined): Promise<void> {
    const started = Date.now();
    let backoffMs = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        if (failure === undefined) await this.#ack(delivery);
        else await this.#fail(delivery, failure.error);
        return;
      } catch (error) {
        this.#ctx.report(error);
        // Past the lease the job is delivered again anyway; a closing consumer leaves it to expire.
        const retry = isAppError(error) && error.retryable && !this.#stopped;
        if (!retry || Date.now() - started > this.#options.leaseMs) return;
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** Queued for one script call per event-loop turn; a lost lease acks nothing, quietly. */
  #ack(delivery: Delivery): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#acks.push({ delivery, resolve, reject });
      if (this.#acks.length === 1) setImmediate(() => void this.#flushAcks());
    });
  }

  async #flushAcks(): Promise<void> {
    const batch = this.#acks.splice(0, MAX_BATCH);
    if (this.#acks.length > 0) setImmediate(() => void this.#flushAcks());
    const k = this.#keys;
    let [low, high] = [batch[0]!.delivery.entry, batch[0]!.delivery.entry];
    const args = [this.#name, '', ''];
    for (const { delivery } of batch) {
      args.push(delivery.entry, delivery.deliveries);
      if (compareEntries(delivery.entry, low) < 0) low = delivery.entry;
      if (compareEntries(delivery.entry, high) > 0) high = delivery.entry;
    }
    args[1] = low;
    args[2] = high;
    // While busy (the last lease call found as many jobs as it asked for), replacements are leased
    // along with the ack, in one write: then a busy consumer needs one round trip per batch. Only
    // when no other lease call is under way, and never more than concurrency once this batch is done.
    const lease = this.#busy && !this.#leasing && !this.#stopped;
    const want = lease ? this.#options.concurrency - (this.#running.size - batch.length) : 0;
    if (lease) this.#leasing = true;
    const keys = [k.stream, k.counts];
    try {
      if (want > 0) {
        const pipeline = this.#ctx.redis.pipeline();
        this.#setup.script('archlabAck', keys, args, pipeline);
        pipeline.xreadgroup('GROUP', GROUP, this.#name, 'COUNT', want, 'STREAMS', k.stream, '>');
        const [acked, read] = (await this.#ctx.guard(pipeline.exec())) ?? [];
        // A failed read is reported, not taken for a failed ack; the loop reads again.
        if (read?.[0]) this.#ctx.report(this.#ctx.translate(read[0]));
        const entries = (read?.[1] as ReadReply)?.[0]?.[1] ?? [];
        this.#busy = entries.length === want;
        // Started whatever became of the ack: they are leased to this consumer already.
        for (const [entry, fields] of entries) this.#start(entry, fields, 1);
        if (!acked || acked[0]) throw this.#ctx.translate(acked?.[0] ?? new Error('no reply to the ack'));
      } else {
        await this.#ctx.guard(this.#setup.script('archlabAck', keys, args));
      }
      for (const { resolve } of batch) resolve();
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      if (lease) {
        this.#leasing = false;
        this.#resume?.();
      }
    }
  }

  async #fail({ job, entry, deliveries }: Delivery, error: unknown): Promise<void> {
    const { attempts, backoff, next } = this.#options;
    const k = this.#keys;
    const keys = [k.jobPrefix + job.id, k.stream, k.delayed, k.dead, k.counts];
    if (next !== undefined) {
      const n = this.#setup.keys(next);
      keys.push(n.stream, n.ids);
    }
    const message = error instanceof Error ? error.message : String(error);
    const delayMs = retryDelayMs(job.attempt, backoff);
    const from = JSON.stringify([...job.from, this.queue]);
    const args = [entry, this.#name, deliveries, job.attempt, attempts, delayMs, message, job.id, from];
    const outcome = await this.#ctx.guard(this.#setup.script('archlabFail', keys, args));
    // This process's consumers (this one included) may be blocked past the retry time.
    if (outcome === 1) this.#setup.wake(this.queue);
  }

  async #renew(): Promise<void> {
    if (this.#renewing || !this.#ctx.isOpen()) return;
    const held = [...this.#running.values()].filter((d) => !d.lost);
    this.#renewing = true;
    try {
      for (let start = 0; start < held.length; start += MAX_BATCH) {
        const args = [this.#name, ...held.slice(start, start + MAX_BATCH).flatMap((d) => [d.entry, d.deliveries])];
        const lost = (await this.#ctx.guard(this.#setup.script('archlabRenew', [this.#keys.stream], args))) as string[];
        for (const entry of lost) {
          const d = this.#running.get(entry);
          if (!d || d.lost) continue;
          d.lost = true;
          this.#ctx.report(
            new Error(`lost the lease on job ${d.job.id} of ${this.queue}: it expired and was delivered again`),
          );
        }
      }
    } catch (error) {
      // The next tick tries again; the lease has two more renewals of slack.
      this.#ctx.report(error);
    } finally {
      this.#renewing = false;
    }
  }

  /** Waits `ms`, or until a handler finishes when `ms` is undefined; close() ends it early. */
  #pause(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#resume?.(), ms);
      this.#resume = () => {
        clearTimeout(timer);
        this.#resume = undefined;
        resolve();
      };
      if (this.#stopped) this.#resume();
    });
  }
}
