// What the two halves of the SQLite bus (streams.ts, queues.ts) share: the one connection to the bus
// file, how driver errors become BusErrors, and synchronous transactions.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppError } from '../../kit/errors.ts';
import { BusErrors } from '../errors.ts';

// Long enough to ride out another process's write or a WAL checkpoint, short enough that a stuck
// writer surfaces as BusErrors.UNAVAILABLE instead of a hang (node:sqlite blocks the thread meanwhile).
const BUSY_TIMEOUT_MS = 5000;

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/** Handed by bus.ts to each half, so both use one connection and one open/closed state. */
export interface SqliteContext {
  readonly db: DatabaseSync;
  /** How often an idle subscriber or consumer looks for writes made by other processes. */
  readonly pollIntervalMs: number;
  /** Throws BusErrors.CLOSED once the bus has begun closing. */
  assertOpen(): void;
  /** Passes a background (handler or storage) error to the bus's onError; never throws. */
  report(error: unknown): void;
}

/** Opens the file (creating its directory) in WAL mode, so readers in other processes never block writers. */
export function openDatabase(file: string): DatabaseSync {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    throw translate(error);
  }
  try {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  } catch (error) {
    db.close();
    throw translate(error);
  }
  return db;
}

/** Driver errors become BusErrors.UNAVAILABLE; lock contention is marked retryable. */
export function translate(error: unknown): unknown {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== 'ERR_SQLITE_ERROR') return error;
  // Extended result codes carry the primary code in the low byte.
  const primary = Number((error as { errcode?: unknown }).errcode) & 0xff;
  const retryable = primary === SQLITE_BUSY || primary === SQLITE_LOCKED;
  return new AppError(503, BusErrors.UNAVAILABLE, `sqlite bus: ${error.message}`, { cause: error, retryable });
}

export function closedError(): AppError {
  return new AppError(503, BusErrors.CLOSED, 'the bus is closed', { retryable: false });
}

/** Runs `fn` and translates what it throws. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw translate(error);
  }
}

/**
 * Runs `fn` in a write transaction. `fn` must be synchronous: the connection is shared by every
 * async path of the bus, and an await inside would let another path's statements join the open
 * transaction. BEGIN IMMEDIATE takes the write lock up front, so two processes never deadlock
 * upgrading a read.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
