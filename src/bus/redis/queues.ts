// The work-queue half of the Redis bus, on Redis Streams with one consumer group per queue: a job is a
// stream entry, so one XREADGROUP delivers it; the group's pending-entries list is the lease table
// (XAUTOCLAIM takes over leases whose consumer stopped renewing); a set of ids keeps each id taken in
// every state; sorted sets hold delayed jobs and retries, and dead jobs. Every state change is one Lua
// script (queue-scripts.ts); the consumer loop is in consumer.ts.
import { randomUUID } from 'node:crypto';
import type { ConsumeOptions, Consumer, DeadJob, EnqueueOptions, Job, QueueCounts } from '../bus.ts';
import { defineScripts, keyPart, type RedisContext } from './connection.ts';
import { type QueueScript, RedisConsumer } from './consumer.ts';
import { jobTail, parseJ } from './entries.ts';
import { QUEUE_SCRIPTS, type QueueKeys } from './queue-scripts.ts';

// Keeps one script call short (Redis runs nothing else meanwhile) when very many enqueues coalesce.
const MAX_ENQUEUE_BATCH = 500;

interface PendingEnqueue {
  args: [id: string, tail: string, delayMs: number];
  resolve: (stored: boolean) => void;
  reject: (error: unknown) => void;
}

export class RedisQueues {
  readonly #ctx: RedisContext;
  readonly #script: QueueScript;
  readonly #consumers = new Set<RedisConsumer>();
  /** Enqueues made in the same tick, per queue: one script call stores them all. */
  readonly #pending = new Map<string, PendingEnqueue[]>();

  constructor(ctx: RedisContext) {
    this.#ctx = ctx;
    this.#script = defineScripts(ctx.redis, QUEUE_SCRIPTS);
  }

  enqueue(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<{ id: string; enqueued: boolean }> {
    try {
      this.#ctx.assertOpen();
      const { id = randomUUID(), headers = {} } = options;
      const delayMs = Math.max(0, Math.ceil(options.delayMs ?? 0));
      const tail = jobTail(id, headers, payload);
      return new Promise<boolean>((resolve, reject) => {
        let batch = this.#pending.get(queue);
        if (!batch) {
          batch = [];
          this.#pending.set(queue, batch);
          queueMicrotask(() => void this.#flush(queue));
        }
        batch.push({ args: [id, tail, delayMs], resolve, reject });
      }).then((enqueued) => ({ id, enqueued }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #flush(queue: string): Promise<void> {
    const all = this.#pending.get(queue) ?? [];
    this.#pending.delete(queue);
    const k = queueKeys(this.#ctx.prefix, queue);
    for (let start = 0; start < all.length; start += MAX_ENQUEUE_BATCH) {
      const batch = all.slice(start, start + MAX_ENQUEUE_BATCH);
      try {
        const stored = (await this.#ctx.guard(
          this.#script('archlabEnqueue', [k.stream, k.delayed, k.ids], [k.jobPrefix, ...batch.flatMap((e) => e.args)]),
        )) as number[];
        for (const [i, e] of batch.entries()) e.resolve(stored[i] === 1);
        // A new entry wakes blocked consumers by itself; a delayed job may be due before they next look.
        if (batch.some((e, i) => stored[i] === 1 && e.args[2] > 0)) this.wake(queue);
      } catch (error) {
        for (const e of batch) e.reject(error);
      }
    }
  }

  consume(queue: string, handler: (job: Job) => Promise<void>, options?: ConsumeOptions): Consumer {
    this.#ctx.assertOpen();
    const consumer = new RedisConsumer({
      ctx: this.#ctx,
      script: this.#script,
      queue,
      keys: (name) => queueKeys(this.#ctx.prefix, name),
      handler,
      options,
      wake: (name) => this.wake(name),
      onClosed: () => this.#consumers.delete(consumer),
    });
    this.#consumers.add(consumer);
    return consumer;
  }

  async counts(queue: string): Promise<QueueCounts> {
    this.#ctx.assertOpen();
    const k = queueKeys(this.#ctx.prefix, queue);
    const [waiting, delayed, leased, done, moved, dead] = (await this.#ctx.guard(
      this.#script('archlabCounts', [k.stream, k.delayed, k.dead, k.counts], []),
    )) as number[];
    return { waiting: waiting!, delayed: delayed!, leased: leased!, done: done!, moved: moved!, dead: dead! };
  }

  async dead(queue: string, options: { limit?: number } = {}): Promise<DeadJob[]> {
    this.#ctx.assertOpen();
    const { redis } = this.#ctx;
    const k = queueKeys(this.#ctx.prefix, queue);
    // Stop -1 is the end of the set: no limit.
    const ids = await this.#ctx.guard(redis.zrevrange(k.dead, 0, (options.limit ?? 0) - 1));
    const fields = ['j', 'f', 'a', 'error', 'failedAt'] as const;
    const rows = await this.#ctx.guard(Promise.all(ids.map((id) => redis.hmget(k.jobPrefix + id, ...fields))));
    const jobs: DeadJob[] = [];
    for (const row of rows) {
      const [j, from, attempt, error, failedAt] = row;
      // Requeued between the two reads.
      if (!j || !failedAt) continue;
      const { enqueuedAt, id, headers, payload } = parseJ(j);
      jobs.push({
        id,
        queue,
        payload,
        headers,
        attempt: Number(attempt),
        from: JSON.parse(from!) as string[],
        enqueuedAt,
        error: error ?? '',
        failedAt: Number(failedAt),
      });
    }
    return jobs;
  }

  async requeue(queue: string, id: string): Promise<boolean> {
    this.#ctx.assertOpen();
    const k = queueKeys(this.#ctx.prefix, queue);
    const done = await this.#ctx.guard(this.#script('archlabRequeue', [k.jobPrefix + id, k.stream, k.dead], [id]));
    return done === 1;
  }

  /** Has this process's consumers of `queue` look again now (a delayed job or retry was added). */
  wake(queue: string): void {
    for (const consumer of this.#consumers) if (consumer.queue === queue) consumer.wake();
  }

  /** Closes every consumer: running handlers finish (except a caller's own) and settle their jobs. */
  async stop(): Promise<void> {
    await Promise.all([...this.#consumers].map((consumer) => consumer.close()));
  }
}

export function queueKeys(prefix: string, queue: string): QueueKeys {
  const base = `${prefix}queue:${keyPart(queue)}:`;
  return {
    stream: `${base}ready`,
    delayed: `${base}delayed`,
    dead: `${base}dead`,
    counts: `${base}counts`,
    ids: `${base}ids`,
    jobPrefix: `${base}job:`,
  };
}
