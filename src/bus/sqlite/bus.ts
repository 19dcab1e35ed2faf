// The embedded bus backend: one SQLite file in WAL mode, shared by every process on one machine.
// The event-stream half (streams.ts) and the work-queue half (queues.ts) share one connection, so
// one close() stops both and closes the file once.
import type { DatabaseSync } from 'node:sqlite';
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
import { closedError, openDatabase, type SqliteContext, transaction, translate } from './connection.ts';
import { QUEUES_SCHEMA, SqliteQueues } from './queues.ts';
import { SqliteStreams, STREAMS_SCHEMA } from './streams.ts';

export interface SqliteBusOptions {
  /** How often a caught-up subscriber or idle consumer looks for writes by other processes (default 10). */
  pollIntervalMs?: number;
  /** Receives handler and storage errors of subscriptions and consumers; the bus itself logs nothing. */
  onError?: (error: unknown) => void;
}

const DEFAULT_POLL_INTERVAL_MS = 10;
// 1: streams, events, offsets. 2: jobs (added by CREATE IF NOT EXISTS, so a version-1 file upgrades in place).
const SCHEMA_VERSION = 2;

class SqliteBus implements Bus {
  readonly #db: DatabaseSync;
  readonly #streams: SqliteStreams;
  readonly #queues: SqliteQueues;
  #closing: Promise<void> | undefined;

  constructor(db: DatabaseSync, options: SqliteBusOptions) {
    this.#db = db;
    const onError = options.onError ?? (() => {});
    const context: SqliteContext = {
      db,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      assertOpen: () => {
        if (this.#closing) throw closedError();
      },
      report: (error) => {
        try {
          onError(error);
        } catch {
          // A failing error callback must not end a subscription or consumer loop.
        }
      },
    };
    transaction(db, () => {
      db.exec(STREAMS_SCHEMA);
      db.exec(QUEUES_SCHEMA);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
    this.#streams = new SqliteStreams(context);
    this.#queues = new SqliteQueues(context);
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
      // Running handlers still ack jobs and commit offsets as they finish, so the file closes last.
      await Promise.all([this.#streams.stop(), this.#queues.stop()]);
      this.#db.close();
    })();
    return this.#closing;
  }
}

/**
 * Opens (creating if needed) the bus file, or a private in-memory bus for ':memory:'. Several
 * processes may open the same file at once.
 */
export function openSqliteBus(file: string, options: SqliteBusOptions = {}): Bus {
  const db = openDatabase(file);
  try {
    return new SqliteBus(db, options);
  } catch (error) {
    db.close();
    throw translate(error);
  }
}
