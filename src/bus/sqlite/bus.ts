// The embedded bus backend: one SQLite file in WAL mode, shared by every process on one machine.
// The event-stream half (streams.ts) and the work-queue half (queues.ts) share one connection, so
// one close() stops both and closes the file once.

import type { DatabaseSync } from 'node:sqlite';
import type { Bus } from '../bus.ts';
import { ComposedBus } from '../composed.ts';
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

class SqliteBus extends ComposedBus {
  readonly #db: DatabaseSync;
  protected readonly streams: SqliteStreams;
  protected readonly queues: SqliteQueues;

  constructor(db: DatabaseSync, options: SqliteBusOptions) {
    super();
    this.#db = db;
    const onError = options.onError ?? (() => {});
    const context: SqliteContext = {
      db,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
      assertOpen: () => {
        if (this.isClosing) throw closedError();
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
    this.streams = new SqliteStreams(context);
    this.queues = new SqliteQueues(context);
  }

  protected async closeTransport(): Promise<void> {
    this.#db.close();
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
