// Idempotency-Key for the sales commands (DESIGN: a repeat returns the first result). The key row is
// written first in the command's own transaction, so the effect, its event and the answer to replay
// commit together or not at all; a concurrent twin with the same key waits on that row and replays.
// Failed commands store nothing: a retry of a refused request is decided again.
import { createHash } from 'node:crypto';
import { AppError, isAppError } from '../../kit/errors.ts';
import { StoreErrors } from '../../store/errors.ts';
import type { Queryable, Store } from '../../store/store.ts';
// The same codes as the users service: one meaning, one code for clients.
import { UsersErrors } from '../users/errors.ts';

export interface CommandResult {
  status: number;
  body: Record<string, unknown>;
}

const KEY = /^[\x21-\x7e]{1,200}$/;

/** A digest of what the request asks for, so a key reused for another request is refused. */
export const fingerprint = (...parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

export async function idempotent(
  store: Store,
  key: string | undefined,
  requestFingerprint: string,
  run: (tx: Queryable) => Promise<CommandResult>,
): Promise<CommandResult> {
  if (key === undefined) return store.transaction(run);
  if (!KEY.test(key)) {
    throw new AppError(400, UsersErrors.INVALID_IDEMPOTENCY_KEY, 'Idempotency-Key must be 1-200 printable characters');
  }
  const earlier = await replay(store, key, requestFingerprint);
  if (earlier !== undefined) return earlier;
  try {
    return await store.transaction(async (tx) => {
      await tx.execute(
        'INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at) VALUES ($1, $2, 0, $3, $4)',
        [key, requestFingerprint, '{}', Date.now()],
      );
      const result = await run(tx);
      await tx.execute('UPDATE idempotency_keys SET status = $1, body = $2 WHERE key = $3', [
        result.status,
        JSON.stringify(result.body),
        key,
      ]);
      return result;
    });
  } catch (error) {
    const columns = isAppError(error) ? ((error.details?.columns as string[] | undefined) ?? []) : [];
    if (isAppError(error) && error.code === StoreErrors.UNIQUE_VIOLATION && columns.includes('key')) {
      const first = await replay(store, key, requestFingerprint);
      if (first !== undefined) return first;
    }
    throw error;
  }
}

async function replay(store: Store, key: string, requestFingerprint: string): Promise<CommandResult | undefined> {
  const [row] = await store.query<{ fingerprint: string; status: number; body: string }>(
    'SELECT fingerprint, status, body FROM idempotency_keys WHERE key = $1',
    [key],
  );
  if (row === undefined) return undefined;
  if (row.fingerprint !== requestFingerprint) {
    throw new AppError(422, UsersErrors.IDEMPOTENCY_KEY_REUSED, 'this Idempotency-Key was used for another request');
  }
  return { status: row.status, body: JSON.parse(row.body) as Record<string, unknown> };
}
