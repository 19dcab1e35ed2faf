// The scale-out store backend: one PostgreSQL schema per store name, on a small `pg` pool whose
// connections all have search_path set to that schema, so SQL names tables without a prefix.
// Transactions run at PostgreSQL's default READ COMMITTED on one checked-out client; concurrent
// writers of one row are serialised by its row lock.
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { AppError, KitErrors } from '../kit/errors.ts';
import { StoreErrors } from './errors.ts';
import { applyMigrations, type MigrationTx } from './migrations.ts';
import type { Migration, Queryable, Row, SqlValue, Store } from './store.ts';

export interface PostgresStoreOptions {
  /** postgres:// URL without archlab's own parameters. */
  url: string;
  name: string;
  /** Prepended to the schema name, e.g. per test or per deployment. */
  prefix?: string;
  poolSize?: number;
}

const defaults = Object.freeze({ poolSize: 10, connectTimeoutMs: 10_000 });

// First key of the two-int advisory locks: 'arch' in ASCII, to stay apart from other lock users.
const LOCK_CLASS = 0x61726368;
const LOCK_SQL = `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext($1))`;

const INT8_OID = 20;
const NUMERIC_OID = 1700;
// Per pool, not pg.types: other pg users in the process keep their own parsing.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID
      ? Number
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The schema of store `name`: prefix + name, '-' as '_'; restricted to names that need no quoting. */
export function schemaFor(prefix: string, name: string): string {
  const schema = `${prefix}${name}`.replaceAll('-', '_');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AppError(400, StoreErrors.BAD_URL, `'${schema}' is not a usable schema name (a-z, 0-9, _; ≤ 63)`);
  }
  return schema;
}

/** Opens the pool and creates the schema if it is missing. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const schema = schemaFor(options.prefix ?? '', options.name);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? defaults.poolSize,
    connectionTimeoutMillis: defaults.connectTimeoutMs,
    options: `-c search_path=${schema}`,
    application_name: `archlab:${options.name}`,
    types,
  });
  // An idle client whose server went away emits here; without a listener the process would crash. The
  // pool drops that client and the next checkout connects afresh.
  pool.on('error', () => undefined);
  try {
    const exists = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await createSchema(pool, schema);
  } catch (error) {
    await pool.end();
    throw translate(error);
  }
  return new PostgresStore(options.name, schema, pool);
}

async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    // CREATE SCHEMA IF NOT EXISTS still races with itself (unique violation on pg_namespace).
    await client.query('BEGIN');
    await client.query(LOCK_SQL, [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** The state of one transaction, seen by its tx handle and by the async context of its callback. */
interface TxState {
  open: boolean;
  /** PostgreSQL refuses every statement after a failed one; keep the cause rather than 25P02. */
  failure: { error: unknown } | undefined;
}

class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly name: string;
  readonly #schema: string;
  readonly #pool: pg.Pool;
  readonly #context = new AsyncLocalStorage<TxState>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #closing: Promise<void> | undefined;

  constructor(name: string, schema: string, pool: pg.Pool) {
    this.name = name;
    this.#schema = schema;
    this.#pool = pool;
  }

  query<T extends Row = Row>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.#track(async () => (await driver(this.#pool.query<T>(statement(sql, params)))).rows);
  }

  execute(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return this.#track(async () => ({
      changes: (await driver(this.#pool.query(statement(sql, params)))).rowCount ?? 0,
    }));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#track(() => this.#transaction(fn, false));
  }

  migrate(migrations: readonly Migration[]): Promise<number> {
    return this.#track(() => applyMigrations((fn) => this.#transaction(fn, true), migrations));
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // pg-pool never serves callers still queued for a client once end() has begun: drain first.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#pool.end();
  }

  async #transaction<T>(fn: (tx: MigrationTx) => Promise<T>, exclusive: boolean): Promise<T> {
    const client = await driver(this.#pool.connect());
    const state: TxState = { open: true, failure: undefined };
    let broken: Error | undefined;
    try {
      await driver(client.query('BEGIN'));
      if (exclusive) await driver(client.query(LOCK_SQL, [this.#schema]));
      const result = await this.#context.run(state, () => fn(txHandle(client, state)));
      if (state.failure) throw state.failure.error;
      await driver(client.query('COMMIT'));
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      state.open = false;
      // A client that could not roll back is in an unknown state: destroy it rather than reuse it.
      client.release(broken);
    }
  }

  /** Rejects after close() and inside own transactions; tracks the call so close() can drain it. */
  async #track<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new AppError(503, StoreErrors.CLOSED, `store '${this.name}' is closed`);
    // On SQLite this would deadlock; refusing it here keeps code that passes on PostgreSQL portable.
    if (this.#context.getStore()?.open) {
      throw new AppError(500, KitErrors.INTERNAL, 'store called inside its own transaction: use the tx argument', {
        retryable: false,
      });
    }
    const promise = work();
    this.#inFlight.add(promise);
    try {
      return await promise;
    } finally {
      this.#inFlight.delete(promise);
    }
  }
}

function txHandle(client: pg.PoolClient, state: TxState): MigrationTx {
  async function guarded<R>(fn: () => Promise<R>): Promise<R> {
    if (!state.open) throw new AppError(503, StoreErrors.CLOSED, 'the transaction has already ended');
    if (state.failure) throw state.failure.error;
    try {
      return await fn();
    } catch (error) {
      state.failure ??= { error: translate(error) };
      throw state.failure.error;
    }
  }
  return {
    query: <T extends Row = Row>(sql: string, params: readonly SqlValue[] = []) =>
      guarded(async () => (await client.query<T>(statement(sql, params))).rows),
    execute: (sql: string, params: readonly SqlValue[] = []) =>
      guarded(async () => ({ changes: (await client.query(statement(sql, params))).rowCount ?? 0 })),
    // Without parameters pg uses the simple protocol, which runs a script of several statements.
    exec: (sql: string) => guarded(async () => void (await client.query(sql))),
  };
}

/** Translates what the driver rejects with; errors thrown by callers' own code pass through untouched. */
function driver<T>(promise: Promise<T>): Promise<T> {
  return promise.catch((error: unknown) => {
    throw translate(error);
  });
}

/**
 * The extended protocol even without parameters, so a text holding several statements is refused as on
 * SQLite (the simple protocol would run them all and return an array of results).
 */
function statement(sql: string, params: readonly SqlValue[]): pg.QueryConfig {
  return { text: sql, values: params.map(bindable), queryMode: 'extended' } as pg.QueryConfig;
}

function bindable(value: SqlValue | undefined): string | number | null {
  // store.ts stores booleans as 0/1; pg would send 'true', which an INTEGER column refuses.
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value ?? null;
}

// Class 08 connection exception; 57P01-03 shutdown / cannot connect now; 53300 too many connections.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]$|53300$)/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// pg and pg-pool raise these without a code.
const CONNECTION_MESSAGES = /^Connection terminated|timeout exceeded when trying to connect|is not queryable/;

/** UNIQUE violations and connection failures become StoreErrors; other errors pass through. */
function translate(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  const { code, detail, constraint } = error as { code?: unknown; detail?: unknown; constraint?: unknown };
  if (code === '23505') {
    return new AppError(409, StoreErrors.UNIQUE_VIOLATION, `unique constraint ${String(constraint)} violated`, {
      details: { columns: keyColumns(detail) },
      cause: error,
    });
  }
  const codes = error instanceof AggregateError ? error.errors.map((e: { code?: unknown }) => e.code) : [code];
  const unavailable =
    codes.some((c) => typeof c === 'string' && (NETWORK_CODES.has(c) || UNAVAILABLE_SQLSTATE.test(c))) ||
    CONNECTION_MESSAGES.test(error.message);
  if (unavailable) {
    return new AppError(503, StoreErrors.UNAVAILABLE, `PostgreSQL unavailable: ${error.message}`, { cause: error });
  }
  return error;
}

/** 'Key (a, b)=(1, x) already exists.' → ['a', 'b'] */
function keyColumns(detail: unknown): string[] {
  const list = typeof detail === 'string' ? /^Key \((.+?)\)=\(/.exec(detail)?.[1] : undefined;
  if (!list) return [];
  return list.split(', ').map((column) => column.replace(/^"(.*)"$/, '$1'));
}
