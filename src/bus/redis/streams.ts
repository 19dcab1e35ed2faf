// The event-stream half of the Redis bus. Per stream: a counter holding the last seq, a hash id → seq
// for idempotent appends, a Redis stream whose entry ids are `<seq>-0` (so XRANGE/XREAD positions are
// seqs), and a hash of consumer offsets. A subscription reads with XREAD BLOCK on a connection of its
// own, so an append from any process wakes it at once; no in-process wake-up is needed.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Redis } from 'ioredis';
import { AppError } from '../../kit/errors.ts';
import type { Headers, NewEvent, StreamEvent, SubscribeOptions, Subscription } from '../bus.ts';
import { BusErrors } from '../errors.ts';
import { defineScripts, halted, keyPart, LUA_NOW, type RedisContext } from './connection.ts';

const DEFAULT_BATCH_SIZE = 100;
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

// One script per append, so the batch is atomic against every other appender (Redis runs scripts
// one at a time) and a crash leaves all of it or none of it.
// KEYS: seq counter, id → seq hash, log stream. ARGV: expectedSeq ('' for none), then id, type,
// data, headers for each event. Returns {1, {seq...}}, or {0, head} on a seq conflict.
const APPEND = `${LUA_NOW}
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local checked = ARGV[1] ~= ''
local expected = tonumber(ARGV[1])
local count = (#ARGV - 1) / 4
local seqs, fresh, last = {}, {}, head
-- Every seq is decided before anything is written: a script cannot roll back, and a conflict must
-- leave the stream untouched.
for i = 1, count do
  local id = ARGV[(i - 1) * 4 + 2]
  -- An id seen earlier in this batch reuses its new seq, like one already in the stream.
  local seq = fresh[id]
  if not seq then
    local existing = redis.call('HGET', KEYS[2], id)
    if existing then seq = tonumber(existing) end
  end
  if not seq then
    last = last + 1
    -- The i-th event of the batch belongs at expectedSeq + i, whatever precedes it.
    if checked and last ~= expected + i then return {0, head} end
    fresh[id] = last
    seq = last
  end
  seqs[i] = seq
end
if last == head then return {1, seqs} end
local now = now_ms()
local written = {}
for i = 1, count do
  local base = (i - 1) * 4 + 2
  local id = ARGV[base]
  if fresh[id] == seqs[i] and not written[id] then
    written[id] = true
    redis.call('HSET', KEYS[2], id, seqs[i])
    redis.call('XADD', KEYS[3], seqs[i] .. '-0', 'id', id, 'type', ARGV[base + 1], 'data', ARGV[base + 2],
      'headers', ARGV[base + 3], 'time', now)
  end
end
redis.call('SET', KEYS[1], last)
return {1, seqs}
`;

type Entry = [id: string, fields: string[]];

interface SubscriptionState {
  readonly stream: string;
  readonly consumer: string | undefined;
  readonly batchSize: number;
  stopped: boolean;
  /** Ends a backoff pause early; set only while paused. */
  wake: (() => void) | undefined;
  /** The connection its blocking reads use; disconnected to stop a read in progress. */
  readonly connection: Redis;
  /** Settles when stop() is called, ending a blocking read that may never settle (see halted()). */
  readonly halted: Promise<null>;
  readonly halt: () => void;
  done: Promise<void>;
}

// Lets close() called from inside a handler skip waiting for that handler, which would deadlock.
const insideHandler = new AsyncLocalStorage<SubscriptionState>();

export class RedisStreams {
  readonly #ctx: RedisContext;
  readonly #subscriptions = new Set<SubscriptionState>();
  readonly #script;

  constructor(ctx: RedisContext) {
    this.#ctx = ctx;
    this.#script = defineScripts(ctx.redis, { archlabAppend: APPEND });
  }

  async append(stream: string, events: readonly NewEvent[], options: { expectedSeq?: number } = {}): Promise<number[]> {
    this.#ctx.assertOpen();
    if (events.length === 0) return [];
    // Serialised before the script runs: unserialisable data then fails the whole call up front.
    const args: string[] = [options.expectedSeq === undefined ? '' : String(options.expectedSeq)];
    for (const event of events) {
      args.push(
        event.id,
        event.type,
        JSON.stringify(event.data ?? null) ?? 'null',
        JSON.stringify(event.headers ?? {}),
      );
    }
    const k = this.#keys(stream);
    const [ok, result] = (await this.#ctx.guard(this.#script('archlabAppend', [k.seq, k.ids, k.log], args))) as [
      number,
      number[] | number,
    ];
    if (ok === 0) {
      const { expectedSeq } = options;
      throw new AppError(409, BusErrors.SEQ_CONFLICT, `stream ${stream} is at ${result}, not at ${expectedSeq}`, {
        details: { stream, expectedSeq, actualSeq: result },
      });
    }
    return result as number[];
  }

  async read(stream: string, options: { after?: number; limit?: number } = {}): Promise<StreamEvent[]> {
    this.#ctx.assertOpen();
    const start = String((options.after ?? 0) + 1);
    const { log } = this.#keys(stream);
    const entries = (await this.#ctx.guard(
      options.limit === undefined
        ? this.#ctx.redis.xrange(log, start, '+')
        : this.#ctx.redis.xrange(log, start, '+', 'COUNT', options.limit),
    )) as Entry[];
    return entries.map((entry) => toEvent(stream, entry));
  }

  async head(stream: string): Promise<number> {
    this.#ctx.assertOpen();
    return Number((await this.#ctx.guard(this.#ctx.redis.get(this.#keys(stream).seq))) ?? 0);
  }

  async getOffset(stream: string, consumer: string): Promise<number> {
    this.#ctx.assertOpen();
    return Number((await this.#ctx.guard(this.#ctx.redis.hget(this.#keys(stream).offsets, consumer))) ?? 0);
  }

  async setOffset(stream: string, consumer: string, seq: number): Promise<void> {
    this.#ctx.assertOpen();
    await this.#ctx.guard(this.#ctx.redis.hset(this.#keys(stream).offsets, consumer, seq));
  }

  subscribe(
    stream: string,
    options: SubscribeOptions,
    handler: (events: StreamEvent[]) => Promise<void>,
  ): Subscription {
    this.#ctx.assertOpen();
    const { after, consumer, batchSize = DEFAULT_BATCH_SIZE } = options;
    if (after !== undefined && consumer !== undefined) {
      throw new TypeError('subscribe() takes either `after` or `consumer`, not both');
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    const state: SubscriptionState = {
      stream,
      consumer,
      batchSize,
      stopped: false,
      wake: undefined,
      connection: this.#ctx.dedicated(),
      ...halted(),
      done: Promise.resolve(),
    };
    this.#subscriptions.add(state);
    state.done = this.#run(state, after, handler).finally(() => {
      state.connection.disconnect();
      this.#subscriptions.delete(state);
    });
    return {
      close: async () => {
        stop(state);
        if (insideHandler.getStore() !== state) await state.done;
      },
    };
  }

  /** Stops every subscription and waits for their in-flight handlers (but not for a caller's own). */
  async stop(): Promise<void> {
    const current = insideHandler.getStore();
    const running = [...this.#subscriptions];
    for (const state of running) stop(state);
    await Promise.all(running.filter((state) => state !== current).map((state) => state.done));
  }

  async #run(
    state: SubscriptionState,
    after: number | undefined,
    handler: (events: StreamEvent[]) => Promise<void>,
  ): Promise<void> {
    const { redis } = this.#ctx;
    const keys = this.#keys(state.stream);
    // Neither `after` nor `consumer`: from the start, like read().
    let position = state.consumer === undefined ? (after ?? 0) : undefined;
    let committed = position;
    let backoffMs = FIRST_BACKOFF_MS;
    // After a failure the exact same events are offered again, even if more arrived meanwhile.
    let retryCount: number | undefined;
    const commit = async (seq: number) => {
      // close() from inside this handler may already have ended the connection; the batch is then
      // delivered again after a restart, which at-least-once allows.
      if (state.consumer === undefined || committed === seq || !this.#ctx.isOpen()) return;
      await this.#ctx.guard(redis.hset(keys.offsets, state.consumer, seq));
      committed = seq;
    };
    const backOff = async (error: unknown) => {
      this.#ctx.report(error);
      await pause(state, backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    };
    while (!state.stopped) {
      let batch: StreamEvent[];
      try {
        if (position === undefined) {
          position = Number((await this.#ctx.guard(redis.hget(keys.offsets, state.consumer!))) ?? 0);
          committed = position;
        }
        await commit(position);
        // Returns at once when there is something after `position`, else waits for an append (from
        // any process) up to pollIntervalMs, a bound that keeps a silently dead socket from hanging it.
        const read = state.connection.xread(
          'COUNT',
          retryCount ?? state.batchSize,
          'BLOCK',
          this.#ctx.pollIntervalMs,
          'STREAMS',
          keys.log,
          String(position),
        );
        const reply = (await Promise.race([this.#ctx.guard(read), state.halted])) as [string, Entry[]][] | null;
        batch = (reply?.[0]?.[1] ?? []).map((entry) => toEvent(state.stream, entry));
      } catch (error) {
        if (state.stopped) break;
        await backOff(error);
        continue;
      }
      if (batch.length === 0 || state.stopped) continue;
      try {
        await insideHandler.run(state, () => handler(batch));
      } catch (error) {
        retryCount = batch.length;
        await backOff(error);
        continue;
      }
      retryCount = undefined;
      backoffMs = FIRST_BACKOFF_MS;
      position = batch[batch.length - 1]!.seq;
      try {
        await commit(position);
      } catch (error) {
        // Retried at the top of the loop; the position stays where the handler left it.
        this.#ctx.report(error);
      }
    }
  }

  #keys(stream: string) {
    const base = `${this.#ctx.prefix}stream:${keyPart(stream)}:`;
    return { seq: `${base}seq`, ids: `${base}ids`, log: `${base}log`, offsets: `${base}offsets` };
  }
}

function toEvent(stream: string, [entryId, fields]: Entry): StreamEvent {
  const value: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) value[fields[i]!] = fields[i + 1]!;
  return {
    stream,
    seq: Number.parseInt(entryId, 10),
    id: value.id!,
    type: value.type!,
    data: JSON.parse(value.data!) as unknown,
    headers: JSON.parse(value.headers!) as Headers,
    time: Number(value.time),
  };
}

function pause(state: SubscriptionState, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => state.wake?.(), ms);
    state.wake = () => {
      clearTimeout(timer);
      state.wake = undefined;
      resolve();
    };
    if (state.stopped) state.wake();
  });
}

function stop(state: SubscriptionState): void {
  state.stopped = true;
  state.halt();
  state.wake?.();
  // Ends a blocking read at once; the subscription never uses this connection again.
  state.connection.disconnect();
}
