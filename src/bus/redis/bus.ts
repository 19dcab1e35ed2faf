// The scale-out bus backend: Redis (≥ 6.2) holds the event streams (streams.ts) and the work queues
// (queues.ts), so services on many hosts share one bus. One command connection carries every call;
// each subscription and consumer gets a connection of its own for its blocking reads. Standalone
// Redis only: scripts touch keys they derive from job ids, which Redis Cluster forbids.
import type { Redis } from 'ioredis';
import type {
  Bus,
  ConsumeOptions,
  Consumer,
  DeadJob,
  EnqueueOptions,
  Job,
  NewEvent,
  QueueCounts,
  StreamEvent,
  SubscribeOptions,
  Subscription,
} from '../bus.ts';
import {
  closedError,
  connect,
  dedicatedConnection,
  parseRedisUrl,
  type RedisContext,
  type RedisLocation,
  translate,
} from './connection.ts';
import { RedisQueues } from './queues.ts';
import { RedisStreams } from './streams.ts';

export interface RedisBusOptions {
  /**
   * The longest a blocked read waits before it looks again (default 500). Appends and enqueues wake
   * blocked readers at once; this bounds how late a consumer notices a job that another process
   * delayed, or a lease that expired.
   */
  pollIntervalMs?: number;
  /** Receives handler and broker errors of subscriptions and consumers; the bus itself logs nothing. */
  onError?: (error: unknown) => void;
}

const DEFAULT_POLL_INTERVAL_MS = 500;

class RedisBus implements Bus {
  readonly #redis: Redis;
  readonly #streams: RedisStreams;
  readonly #queues: RedisQueues;
  #closing: Promise<void> | undefined;
  #ended = false;

  constructor(redis: Redis, location: RedisLocation, options: RedisBusOptions) {
    this.#redis = redis;
    const onError = options.onError ?? (() => {});
    const context: RedisContext = {
      redis,
      prefix: location.prefix,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      dedicated: () => dedicatedConnection(redis),
      assertOpen: () => {
        if (this.#closing) throw closedError();
      },
      isOpen: () => !this.#ended,
      guard: async <T>(call: Promise<T>): Promise<T> => {
        try {
          return await call;
        } catch (error) {
          throw context.translate(error);
        }
      },
      // A call cut off by close() reports the close, not a broken connection.
      translate: (error) => (this.#ended ? closedError() : translate(error, location.shown)),
      report: (error) => {
        try {
          onError(error);
        } catch {
          // A failing error callback must not end a subscription or consumer loop.
        }
      },
    };
    this.#streams = new RedisStreams(context);
    this.#queues = new RedisQueues(context);
  }

  append(stream: string, events: readonly NewEvent[], options?: { expectedSeq?: number }): Promise<number[]> {
    return this.#streams.append(stream, events, options);
  }

  read(stream: string, options?: { after?: number; limit?: number }): Promise<StreamEvent[]> {
    return this.#streams.read(stream, options);
  }

  head(stream: string): Promise<number> {
    return this.#streams.head(stream);
  }

  getOffset(stream: string, consumer: string): Promise<number> {
    return this.#streams.getOffset(stream, consumer);
  }

  setOffset(stream: string, consumer: string, seq: number): Promise<void> {
    return this.#streams.setOffset(stream, consumer, seq);
  }

  subscribe(
    stream: string,
    options: SubscribeOptions,
    handler: (events: StreamEvent[]) => Promise<void>,
  ): Subscription {
    return this.#streams.subscribe(stream, options, handler);
  }

  enqueue(queue: string, payload: unknown, options?: EnqueueOptions): Promise<{ id: string; enqueued: boolean }> {
    return this.#queues.enqueue(queue, payload, options);
  }

  consume(queue: string, handler: (job: Job) => Promise<void>, options?: ConsumeOptions): Consumer {
    return this.#queues.consume(queue, handler, options);
  }

  counts(queue: string): Promise<QueueCounts> {
    return this.#queues.counts(queue);
  }

  dead(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    return this.#queues.dead(queue, options);
  }

  requeue(queue: string, id: string): Promise<boolean> {
    return this.#queues.requeue(queue, id);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Running handlers still ack jobs and commit offsets as they finish, so the connection goes last.
      await Promise.all([this.#streams.stop(), this.#queues.stop()]);
      this.#ended = true;
      if (this.#redis.status === 'ready') {
        try {
          // QUIT lets replies to calls already sent arrive first.
          await this.#redis.quit();
        } catch {
          // Already gone; disconnect() below is enough.
        }
      }
      this.#redis.disconnect();
    })();
    return this.#closing;
  }
}

/**
 * Connects to the bus at `redis://[user:password@]host[:port][/db][?prefix=<key prefix>]` (prefix
 * default 'archlab:'). Rejects with BusErrors.UNAVAILABLE when the server cannot be reached, BAD_URL
 * for another URL. Once open, the bus reconnects by itself; calls made while the server is away fail
 * with UNAVAILABLE after a short wait, and subscriptions and consumers retry until it is back.
 */
export async function openRedisBus(url: string, options: RedisBusOptions = {}): Promise<Bus> {
  const location = parseRedisUrl(url);
  const redis = await connect(location);
  return new RedisBus(redis, location, options);
}
