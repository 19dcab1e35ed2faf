// The scale-out bus backend: Redis (≥ 6.2) holds the event streams (streams.ts) and the work queues
// (queues.ts), so services on many hosts share one bus. One command connection carries every call;
// each subscription and consumer gets a connection of its own for its blocking reads. Standalone
// Redis only: scripts touch keys they derive from job ids, which Redis Cluster forbids.

import type { Redis } from 'ioredis';
import type { Bus } from '../bus.ts';
import { ComposedBus } from '../composed.ts';
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

class RedisBus extends ComposedBus {
  readonly #redis: Redis;
  protected readonly streams: RedisStreams;
  protected readonly queues: RedisQueues;
  #ended = false;

  constructor(redis: Redis, location: RedisLocation, options: RedisBusOptions) {
    super();
    this.#redis = redis;
    const onError = options.onError ?? (() => {});
    const context: RedisContext = {
      redis,
      prefix: location.prefix,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      dedicated: () => dedicatedConnection(redis),
      assertOpen: () => {
        if (this.isClosing) throw closedError();
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
    this.streams = new RedisStreams(context);
    this.queues = new RedisQueues(context);
  }

  protected async closeTransport(): Promise<void> {
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
  }
}

/**
 * Connects to the bus at `redis://[user:password@]host[:port][/db][?prefix=<key prefix>]` (prefix
 * default 'archlab:'). Rejects with BusErrors.UNAVAILABLE when the server cannot be reached, BAD_URL
 * for another URL. Once open, the bus reconnects by itself; calls made while the server is away fail
 * with UNAVAILABLE at once (one already sent when it went away, after about 0.35 s), and
 * subscriptions and consumers retry with backoff until it is back, then resume where they were.
 */
export async function openRedisBus(url: string, options: RedisBusOptions = {}): Promise<Bus> {
  const location = parseRedisUrl(url);
  const redis = await connect(location);
  return new RedisBus(redis, location, options);
}
