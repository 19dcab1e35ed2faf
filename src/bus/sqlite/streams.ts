// The event-stream half of the SQLite bus. node:sqlite is synchronous, so each method runs start to
// finish without interleaving inside this process; BEGIN IMMEDIATE serialises appends across
// processes. Subscribers in this process are woken by local appends at once and poll the file for
// appends made by other processes.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { StatementSync } from 'node:sqlite';
import { AppError } from '../../kit/errors.ts';
import type { Bus, Headers, NewEvent, StreamEvent, SubscribeOptions, Subscription } from '../bus.ts';
import { BusErrors } from '../errors.ts';
import { guard, type SqliteContext, transaction, translate } from './connection.ts';

const DEFAULT_BATCH_SIZE = 100;
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

export const STREAMS_SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  name TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  headers TEXT NOT NULL,
  time INTEGER NOT NULL,
  PRIMARY KEY (stream, seq),
  UNIQUE (stream, id)
);
CREATE TABLE IF NOT EXISTS offsets (
  stream TEXT NOT NULL,
  consumer TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (stream, consumer)
) WITHOUT ROWID;
`;

export type EventStreams = Pick<Bus, 'append' | 'read' | 'head' | 'getOffset' | 'setOffset' | 'subscribe'>;

interface EventRow {
  seq: number;
  id: string;
  type: string;
  data: string;
  headers: string;
  time: number;
}

interface SubscriptionState {
  readonly stream: string;
  readonly consumer: string | undefined;
  readonly batchSize: number;
  stopped: boolean;
  /** True while caught up, so a local append may wake it. */
  idle: boolean;
  /** Ends the current pause early; set only while paused. */
  wake: (() => void) | undefined;
  done: Promise<void>;
}

// Lets close() called from inside a handler skip waiting for that handler, which would deadlock.
const insideHandler = new AsyncLocalStorage<SubscriptionState>();

export class SqliteStreams implements EventStreams {
  readonly #context: SqliteContext;
  readonly #db: SqliteContext['db'];
  readonly #subscriptions = new Set<SubscriptionState>();
  readonly #sql: Record<'head' | 'setHead' | 'find' | 'insert' | 'read' | 'getOffset' | 'setOffset', StatementSync>;

  /** Expects STREAMS_SCHEMA to exist already. */
  constructor(context: SqliteContext) {
    this.#context = context;
    const db = context.db;
    this.#db = db;
    this.#sql = {
      head: db.prepare('SELECT last_seq AS seq FROM streams WHERE name = ?'),
      setHead: db.prepare(
        'INSERT INTO streams (name, last_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq',
      ),
      find: db.prepare('SELECT seq FROM events WHERE stream = ? AND id = ?'),
      insert: db.prepare(
        'INSERT INTO events (stream, seq, id, type, data, headers, time) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      read: db.prepare(
        'SELECT seq, id, type, data, headers, time FROM events WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      getOffset: db.prepare('SELECT seq FROM offsets WHERE stream = ? AND consumer = ?'),
      setOffset: db.prepare(
        'INSERT INTO offsets (stream, consumer, seq) VALUES (?, ?, ?) ON CONFLICT (stream, consumer) DO UPDATE SET seq = excluded.seq',
      ),
    };
  }

  async append(stream: string, events: readonly NewEvent[], options: { expectedSeq?: number } = {}): Promise<number[]> {
    this.#context.assertOpen();
    // Serialise before the transaction: unserialisable data then fails the whole call up front.
    const rows = events.map((event) => ({
      id: event.id,
      type: event.type,
      data: JSON.stringify(event.data ?? null) ?? 'null',
      headers: JSON.stringify(event.headers ?? {}),
    }));
    const { expectedSeq } = options;
    const time = Date.now();
    const { seqs, appended } = guard(() =>
      transaction(this.#db, () => {
        const head = this.#headSync(stream);
        const seqs: number[] = [];
        let last = head;
        for (const [index, row] of rows.entries()) {
          const existing = this.#sql.find.get(stream, row.id) as { seq: number } | undefined;
          if (existing) {
            seqs.push(existing.seq);
            continue;
          }
          last += 1;
          if (expectedSeq !== undefined && last !== expectedSeq + index + 1) {
            throw new AppError(409, BusErrors.SEQ_CONFLICT, `stream ${stream} is at ${head}, not at ${expectedSeq}`, {
              details: { stream, expectedSeq, actualSeq: head },
            });
          }
          this.#sql.insert.run(stream, last, row.id, row.type, row.data, row.headers, time);
          seqs.push(last);
        }
        if (last !== head) this.#sql.setHead.run(stream, last);
        return { seqs, appended: last !== head };
      }),
    );
    if (appended) this.#wakeIdle(stream);
    return seqs;
  }

  async read(stream: string, options: { after?: number; limit?: number } = {}): Promise<StreamEvent[]> {
    this.#context.assertOpen();
    // LIMIT -1 is SQLite for "no limit".
    return guard(() => this.#readSync(stream, options.after ?? 0, options.limit ?? -1));
  }

  async head(stream: string): Promise<number> {
    this.#context.assertOpen();
    return guard(() => this.#headSync(stream));
  }

  async getOffset(stream: string, consumer: string): Promise<number> {
    this.#context.assertOpen();
    return guard(() => this.#getOffsetSync(stream, consumer));
  }

  async setOffset(stream: string, consumer: string, seq: number): Promise<void> {
    this.#context.assertOpen();
    guard(() => this.#sql.setOffset.run(stream, consumer, seq));
  }

  subscribe(
    stream: string,
    options: SubscribeOptions,
    handler: (events: StreamEvent[]) => Promise<void>,
  ): Subscription {
    this.#context.assertOpen();
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
      idle: false,
      wake: undefined,
      done: Promise.resolve(),
    };
    this.#subscriptions.add(state);
    state.done = this.#run(state, after, handler).finally(() => this.#subscriptions.delete(state));
    return {
      close: async () => {
        stop(state);
        if (insideHandler.getStore() !== state) await state.done;
      },
    };
  }

  /** Stops every subscription and resolves once their handlers have finished (the bus closes the file after). */
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
    // Neither `after` nor `consumer`: from the start, like read().
    let position = state.consumer === undefined ? (after ?? 0) : undefined;
    let committed = position;
    let backoffMs = FIRST_BACKOFF_MS;
    // After a failure the exact same events are offered again, even if more arrived meanwhile.
    let retryCount: number | undefined;
    const commit = (seq: number) => {
      // close() from inside this handler may already have closed the file; the batch is then
      // delivered again after a restart, which at-least-once allows.
      if (state.consumer === undefined || committed === seq || !this.#db.isOpen) return;
      this.#sql.setOffset.run(state.stream, state.consumer, seq);
      committed = seq;
    };
    const backOff = async (error: unknown) => {
      this.#context.report(error);
      await pause(state, backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    };
    while (!state.stopped) {
      let batch: StreamEvent[];
      try {
        if (position === undefined) {
          position = this.#getOffsetSync(state.stream, state.consumer!);
          committed = position;
        }
        commit(position);
        batch = this.#readSync(state.stream, position, retryCount ?? state.batchSize);
      } catch (error) {
        await backOff(translate(error));
        continue;
      }
      if (batch.length === 0) {
        state.idle = true;
        await pause(state, this.#context.pollIntervalMs);
        state.idle = false;
        continue;
      }
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
        commit(position);
      } catch (error) {
        // Retried at the top of the loop; the position stays where the handler left it.
        this.#context.report(translate(error));
      }
    }
  }

  #wakeIdle(stream: string): void {
    for (const state of this.#subscriptions) if (state.idle && state.stream === stream) state.wake?.();
  }

  #headSync(stream: string): number {
    const row = this.#sql.head.get(stream) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  #getOffsetSync(stream: string, consumer: string): number {
    const row = this.#sql.getOffset.get(stream, consumer) as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  #readSync(stream: string, after: number, limit: number): StreamEvent[] {
    const rows = this.#sql.read.all(stream, after, limit) as unknown as EventRow[];
    return rows.map((row) => ({
      stream,
      seq: row.seq,
      id: row.id,
      type: row.type,
      data: JSON.parse(row.data) as unknown,
      headers: JSON.parse(row.headers) as Headers,
      time: row.time,
    }));
  }
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
  state.wake?.();
}
