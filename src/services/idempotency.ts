// Idempotency-Key support for a command (DESIGN.md: "a repeat returns the first result"): the key row,
// the command's own writes and the response to replay commit in ONE transaction. The key row goes in
// first, so a concurrent twin with the same key blocks on it (PostgreSQL) or waits for the write lock
// (SQLite) and then replays. The store needs the `idempotency_keys` table of the users service's shape.
// Every service answers with the users service's two codes, so a code means one thing everywhere
// (products, orders and sales use this module).
import { createHash } from 'node:crypto';
import { AppError, isAppError } from '../kit/errors.ts';
import { StoreErrors } from '../store/errors.ts';
import type { Queryable, Store } from '../store/store.ts';
import { UsersErrors } from './users/errors.ts';

export interface CommandResult {
  status: number;
  body: Record<string, unknown>;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** The key a request sent (first of repeated headers), checked; undefined when none was sent. */
export function idempotencyKey(header: string | string[] | undefined): string | undefined {
  const key = Array.isArray(header) ? header[0] : header;
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new AppError(400, UsersErrors.INVALID_IDEMPOTENCY_KEY, 'Idempotency-Key must be 1-200 printable characters');
  }
  return key;
}

/** What identifies a request's content, so a key reused for another request is refused. */
export const fingerprint = (parts: readonly unknown[]): string =>
  createHash('sha256').update(JSON.stringify(parts)).digest('hex');

/** Runs `command` in a transaction; with a key, a repeat (even a concurrent one) returns the first result. */
export async function runIdempotent(
  store: Store,
  request: { key: string | undefined; fingerprint: string },
  command: (tx: Queryable) => Promise<CommandResult>,
): Promise<CommandResult> {
  const { key } = request;
  if (key !== undefined) {
    const earlier = await replay(store, key, request.fingerprint);
    if (earlier !== undefined) return earlier;
  }
  try {
    return await store.transaction(async (tx) => {
      if (key !== undefined) {
        await tx.execute(
          'INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at) VALUES ($1, $2, 0, $3, $4)',
          [key, request.fingerprint, '{}', Date.now()],
        );
      }
      const result = await command(tx);
      if (key !== undefined) {
        await tx.execute('UPDATE idempotency_keys SET status = $1, body = $2 WHERE key = $3', [
          result.status,
          JSON.stringify(result.body),
          key,
        ]);
      }
      return result;
    });
  } catch (error) {
    const columns = isAppError(error) && error.code === StoreErrors.UNIQUE_VIOLATION ? error.details?.columns : [];
    if (key !== undefined && Array.isArray(columns) && columns.includes('key')) {
      const earlier = await replay(store, key, request.fingerprint);
      if (earlier !== undefined) return earlier;
    }
    throw error;
  }
}

/** The first answer recorded under `key`; 422 when that key was used for another request. */
export async function replay(store: Store, key: string, fingerprint: string): Promise<CommandResult | undefined> {
  const [row] = await store.query<{ fingerprint: string; status: number; body: string }>(
    'SELECT fingerprint, status, body FROM idempotency_keys WHERE key = $1',
    [key],
  );
  if (row === undefined) return undefined;
  if (row.fingerprint !== fingerprint) {
    throw new AppError(422, UsersErrors.IDEMPOTENCY_KEY_REUSED, 'this Idempotency-Key was used for another request');
  }
  return { status: row.status, body: JSON.parse(row.body) as Record<string, unknown> };
}
