// The repository layer every service writes through. One interface, two backends (sqlite.ts on
// node:sqlite, postgres.ts on pg), chosen by URL in create-store.ts; services never import a backend.
//
// Semantics shared by both backends (store.contract.ts checks each):
// - SQL is written once with PostgreSQL-style positional parameters ($1, $2, ...); a parameter may
//   repeat. Values are numbers, strings, null, or booleans (stored as 0/1). Integers read back as
//   JS numbers (BIGINT included; values beyond 2^53 are out of contract).
// - Use the portable subset both engines share: TEXT, BIGINT, INTEGER, DOUBLE PRECISION, ON CONFLICT
//   upserts, RETURNING. JSON goes in TEXT columns.
// - transaction(fn) runs fn in one serialisable unit: all its writes commit together or none do.
//   It rolls back when fn throws and rethrows. Statements outside a transaction autocommit.
// - A UNIQUE violation surfaces as AppError code StoreErrors.UNIQUE_VIOLATION with
//   details.columns (the constrained columns); connection failures as StoreErrors.UNAVAILABLE.
// - Each store is one isolated namespace: a file per name on SQLite, a schema per name on
//   PostgreSQL. Table names need no prefix.
// - migrate() applies forward-only, numbered migrations once each, in order, safely when several
//   processes start at once; an applied migration whose text changed is an error.
// - After close() every call rejects with StoreErrors.CLOSED.
export type SqlValue = string | number | boolean | null;
export type Row = Record<string, unknown>;

export interface Queryable {
  /** Runs a statement and returns its rows (empty for statements without RETURNING). */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement and returns how many rows it changed. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  /** Sortable identifier, e.g. "001-users" (the file name without .sql). */
  id: string;
  sql: string;
}

export interface Store extends Queryable {
  readonly dialect: Dialect;
  /** The namespace: service or instance name the store was opened for. */
  readonly name: string;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Applies the migrations not applied yet; returns how many it applied. */
  migrate(migrations: readonly Migration[]): Promise<number>;
  close(): Promise<void>;
}
