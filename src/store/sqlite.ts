// The embedded store backend: one SQLite file per store name, WAL mode, on node:sqlite.
// node:sqlite is synchronous and a transaction lives on a connection, so one connection shared by many
// async callers needs a queue: every statement and every whole transaction takes the connection's
// mutex, and a transaction keeps it across the awaits of its callback. Handles opened on the same file
// in one process share one connection (and so one queue); other processes are serialised by SQLite's
// write lock (BEGIN IMMEDIATE) and wait for it up to BUSY_TIMEOUT_MS.
import { AsyncLocalStorage } from 'node:async_hooks';
import path from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { AppError, KitErrors } from '../kit/errors.ts';
import { StoreErrors } from './errors.ts';
import { applyMigrations, type MigrationTx } from './migrations.ts';
import type { Migration, Queryable, Row, SqlValue, Store } from './store.ts';

// Long enough to ride out another process's transaction or a checkpoint, short enough that a stuck
// writer surfaces as StoreErrors.UNAVAILABLE instead of a hang (node:sqlite blocks the thread meanwhile).
const BUSY_TIMEOUT_MS = 5000;
// Services use a fixed set of statements; the bound only matters for code that builds SQL dynamically.
const STATEMENT_CACHE_SIZE = 256;

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CANTOPEN = 14;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

/** A promise chain: each run starts when the previous one has settled. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** The state of one transaction, seen by its tx handle and by the async context of its callback. */
interface TxState {
  open: boolean;
  /** The first statement that failed dooms the transaction, as on PostgreSQL. */
  failure: { error: unknown } | undefined;
}

interface Connection {
  readonly db: DatabaseSync;
  readonly key: string | undefined;
  readonly mutex: Mutex;
  readonly statements: Map<string, StatementSync>;
  readonly context: AsyncLocalStorage<TxState>;
  refs: number;
}

const shared = new Map<string, Connection>();

/**
 * Opens store `name` on `file` (':memory:' for a private in-memory database). Handles on the same file
 * in this process share one connection.
 */
export function openSqliteStore(name: string, file: string): Store {
  const key = file === ':memory:' ? undefined : path.resolve(file);
  let connection = key === undefined ? undefined : shared.get(key);
  if (!connection) {
    connection = connect(file, key);
    if (key !== undefined) shared.set(key, connection);
  }
  connection.refs += 1;
  return new SqliteStore(name, connection);
}

function connect(file: string, key: string | undefined): Connection {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS, enableForeignKeyConstraints: true });
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode loses at most the last commits on power loss, never consistency.
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
  } catch (error) {
    throw translate(error);
  }
  return { db, key, mutex: new Mutex(), statements: new Map(), context: new AsyncLocalStorage(), refs: 0 };
}

class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly name: string;
  readonly #connection: Connection;
  #closing: Promise<void> | undefined;

  constructor(name: string, connection: Connection) {
    this.name = name;
    this.#connection = connection;
  }

  async query<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    this.#checkUsable();
    return this.#connection.mutex.run(() => all<T>(this.#connection, sql, params));
  }

  async execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    this.#checkUsable();
    return this.#connection.mutex.run(() => run(this.#connection, sql, params));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.#checkUsable();
    return this.#connection.mutex.run(() => transaction(this.#connection, fn));
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    this.#checkUsable();
    const connection = this.#connection;
    // BEGIN IMMEDIATE takes the file's write lock, so migrators in other processes wait their turn.
    return applyMigrations((fn) => connection.mutex.run(() => transaction(connection, fn)), migrations);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const connection = this.#connection;
    connection.refs -= 1;
    const last = connection.refs === 0;
    if (last && connection.key !== undefined) shared.delete(connection.key);
    // Queued behind every statement and transaction already accepted: close drains, then stops.
    await connection.mutex.run(() => {
      if (last) connection.db.close();
    });
  }

  #checkUsable(): void {
    if (this.#closing) throw closedError(`store '${this.name}' is closed`);
    // The mutex is held by that transaction until the callback returns: waiting would deadlock.
    if (this.#connection.context.getStore()?.open) {
      throw new AppError(500, KitErrors.INTERNAL, 'store called inside its own transaction: use the tx argument', {
        retryable: false,
      });
    }
  }
}

async function transaction<T>(connection: Connection, fn: (tx: MigrationTx) => Promise<T>): Promise<T> {
  const { db } = connection;
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    throw translate(error);
  }
  const state: TxState = { open: true, failure: undefined };
  try {
    const result = await connection.context.run(state, () => fn(txHandle(connection, state)));
    if (state.failure) throw state.failure.error;
    try {
      db.exec('COMMIT');
    } catch (error) {
      throw translate(error);
    }
    return result;
  } catch (error) {
    // Some errors (SQLITE_FULL, IOERR) already rolled the transaction back.
    if (db.isOpen && db.isTransaction) db.exec('ROLLBACK');
    throw error;
  } finally {
    state.open = false;
  }
}

function txHandle(connection: Connection, state: TxState): MigrationTx {
  // Runs inside the transaction: the mutex is already held, so statements run directly.
  function guarded<R>(fn: () => R): Promise<R> {
    if (!state.open) return Promise.reject(closedError('the transaction has already ended'));
    if (state.failure) return Promise.reject(state.failure.error);
    try {
      return Promise.resolve(fn());
    } catch (error) {
      state.failure = { error: translate(error) };
      return Promise.reject(state.failure.error);
    }
  }
  return {
    query: <T extends Row = Row>(sql: string, params: readonly SqlValue[] = []) =>
      guarded(() => all<T>(connection, sql, params)),
    execute: (sql: string, params: readonly SqlValue[] = []) => guarded(() => run(connection, sql, params)),
    exec: (sql: string) => guarded(() => connection.db.exec(sql)),
  };
}

function all<T extends Row>(connection: Connection, sql: string, params: readonly SqlValue[]): T[] {
  try {
    const rows = statement(connection, sql).all(...params.map(bindable));
    // node:sqlite returns null-prototype objects; plain ones compare equal to the other backend's rows.
    return rows.map((row) => ({ ...row }) as T);
  } catch (error) {
    throw translate(error);
  }
}

function run(connection: Connection, sql: string, params: readonly SqlValue[]): { changes: number } {
  try {
    const { changes } = statement(connection, sql).run(...params.map(bindable));
    return { changes: Number(changes) };
  } catch (error) {
    throw translate(error);
  }
}

function statement(connection: Connection, sql: string): StatementSync {
  const cache = connection.statements;
  let prepared = cache.get(sql);
  if (prepared) {
    // Re-inserting keeps the Map's insertion order usable as least-recently-used order.
    cache.delete(sql);
  } else {
    prepared = connection.db.prepare(toSqliteParams(sql));
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  }
  cache.set(sql, prepared);
  return prepared;
}

function bindable(value: SqlValue | undefined): string | number | null {
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value ?? null;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
const isWordChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$]/.test(c);

/**
 * Rewrites PostgreSQL parameters ($1) as SQLite's numbered ones (?1, which may repeat), leaving quoted
 * strings, quoted identifiers and comments alone. Rejects several statements in one text: node:sqlite
 * would silently run only the first.
 */
export function toSqliteParams(sql: string): string {
  let out = '';
  let copied = 0;
  let ended = false;
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    const skipTo = (end: number, width: number) => (end === -1 ? sql.length : end + width);
    if (c === "'" || c === '"' || c === '`') {
      // A doubled quote inside ('it''s') reads as two adjacent quoted runs, which is equivalent.
      i = skipTo(sql.indexOf(c, i + 1), 1);
    } else if (c === '-' && sql[i + 1] === '-') {
      i = skipTo(sql.indexOf('\n', i), 1);
    } else if (c === '/' && sql[i + 1] === '*') {
      i = skipTo(sql.indexOf('*/', i + 2), 2);
    } else if (c === ';') {
      ended = true;
      i += 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else {
      if (ended) throw multipleStatements(sql);
      if (c === '$' && isDigit(sql[i + 1]) && !isWordChar(sql[i - 1])) {
        out += `${sql.slice(copied, i)}?`;
        copied = i + 1;
      }
      i += 1;
    }
  }
  return out + sql.slice(copied);
}

function multipleStatements(sql: string): AppError {
  return new AppError(500, KitErrors.INTERNAL, `one statement per query: ${sql.slice(0, 80)}`, { retryable: false });
}

function closedError(message: string): AppError {
  return new AppError(503, StoreErrors.CLOSED, message);
}

/** UNIQUE and PRIMARY KEY violations and lock timeouts become StoreErrors; other errors pass through. */
function translate(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode !== 'number') return error;
  if (errcode === SQLITE_CONSTRAINT_UNIQUE || errcode === SQLITE_CONSTRAINT_PRIMARYKEY) {
    return new AppError(409, StoreErrors.UNIQUE_VIOLATION, error.message, {
      details: { columns: uniqueColumns(error.message) },
      cause: error,
    });
  }
  const primary = errcode & 0xff;
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED || primary === SQLITE_CANTOPEN) {
    return new AppError(503, StoreErrors.UNAVAILABLE, `SQLite: ${error.message}`, { cause: error });
  }
  return error;
}

/** "UNIQUE constraint failed: t.a, t.b" → ['a', 'b']; an expression index names no columns. */
function uniqueColumns(message: string): string[] {
  const list = /constraint failed: (.+)$/.exec(message)?.[1];
  if (!list || list.startsWith('index ')) return [];
  return list.split(', ').map((column) => column.slice(column.lastIndexOf('.') + 1));
}
