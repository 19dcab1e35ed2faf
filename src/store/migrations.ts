// Forward-only migrations: numbered SQL files read from a folder, and the apply loop both backends run.
// Each pending migration is applied in its own transaction together with its row in `migrations`, and
// that transaction excludes every other migrator of the same namespace (the backend provides the lock),
// so processes starting at once apply each migration exactly once.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../kit/errors.ts';
import { StoreErrors } from './errors.ts';
import type { Migration, Queryable } from './store.ts';

/** A transaction handle that can also run a script of several statements. */
export interface MigrationTx extends Queryable {
  exec(sql: string): Promise<void>;
}

/** Runs fn in a transaction that no other migrator of the namespace runs at the same time. */
export type ExclusiveTransaction = <T>(fn: (tx: MigrationTx) => Promise<T>) => Promise<T>;

const FILE_NAME = /^(\d{3})-[a-z0-9][a-z0-9-]*\.sql$/;
const HEADER = /^-- \S/;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS migrations (
  id TEXT PRIMARY KEY,
  checksum TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/**
 * Reads `NNN-name.sql` files from dir, sorted by id. Every .sql file must follow that pattern, have a
 * number of its own, and start with a `-- ` line saying what it does.
 */
export function loadMigrations(dir: string | URL): Migration[] {
  const where = typeof dir === 'string' ? dir : fileURLToPath(dir);
  const files = readdirSync(where)
    .filter((file) => file.endsWith('.sql'))
    .sort();
  const numbers = new Map<string, string>();
  return files.map((file) => {
    const number = FILE_NAME.exec(file)?.[1];
    if (number === undefined) throw invalid(`${path.join(where, file)}: expected a name like 001-create-users.sql`);
    const previous = numbers.get(number);
    if (previous !== undefined) throw invalid(`${where}: ${previous} and ${file} share the number ${number}`);
    numbers.set(number, file);
    const sql = readFileSync(path.join(where, file), 'utf8');
    if (!HEADER.test(sql))
      throw invalid(`${path.join(where, file)}: the first line must be a '-- ' comment saying what it does`);
    return { id: file.slice(0, -'.sql'.length), sql };
  });
}

/** sha256 of the text; line endings are normalised so a checkout with CRLF does not look edited. */
export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/** Applies the migrations not applied yet, one transaction each; returns how many it applied. */
export async function applyMigrations(
  exclusive: ExclusiveTransaction,
  migrations: readonly Migration[],
  now: () => number = Date.now,
): Promise<number> {
  const wanted = ordered(migrations);
  let applied = 0;
  for (;;) {
    // Re-read inside every transaction: another process may have applied some meanwhile.
    const didApply = await exclusive(async (tx) => {
      await tx.execute(CREATE_TABLE);
      const rows = await tx.query<{ id: string; checksum: string }>('SELECT id, checksum FROM migrations');
      const next = wanted[verify(rows, wanted)];
      if (!next) return false;
      await tx.exec(next.sql);
      await tx.execute('INSERT INTO migrations (id, checksum, applied_at) VALUES ($1, $2, $3)', [
        next.id,
        next.checksum,
        now(),
      ]);
      return true;
    });
    if (!didApply) return applied;
    applied += 1;
  }
}

type Known = Migration & { checksum: string };

function ordered(migrations: readonly Migration[]): Known[] {
  // Plain code-unit order, the same in every process; SQL ORDER BY would follow the database collation.
  const sorted = [...migrations].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.id === sorted[i - 1]!.id) throw invalid(`migration ${sorted[i]!.id} is listed twice`);
  }
  return sorted.map((m) => ({ ...m, checksum: checksum(m.sql) }));
}

/**
 * Checks the applied rows against the code's migrations and returns the index of the first pending
 * one. Applied migrations must be known, unedited, and a prefix of the list: forward-only means a
 * migration numbered below an applied one can never run.
 */
function verify(rows: readonly { id: string; checksum: string }[], wanted: readonly Known[]): number {
  const byId = new Map(wanted.map((m, index) => [m.id, { m, index }]));
  for (const row of rows) {
    const known = byId.get(row.id);
    if (!known) {
      throw mismatch(`the database holds migration ${row.id}, which this code does not know`, { id: row.id });
    }
    if (known.m.checksum !== row.checksum) {
      throw mismatch(`migration ${row.id} was edited after it was applied`, {
        id: row.id,
        applied: row.checksum,
        current: known.m.checksum,
      });
    }
  }
  const appliedIds = new Set(rows.map((row) => row.id));
  const pending = wanted.findIndex((m) => !appliedIds.has(m.id));
  if (pending === -1) return wanted.length;
  const later = wanted.slice(pending).find((m) => appliedIds.has(m.id));
  if (later) {
    throw mismatch(`migration ${wanted[pending]!.id} is pending but ${later.id}, after it, is already applied`, {
      id: wanted[pending]!.id,
    });
  }
  return pending;
}

function mismatch(message: string, details: Record<string, unknown>): AppError {
  return new AppError(500, StoreErrors.MIGRATION_MISMATCH, message, { retryable: false, details });
}

/** A migration set that breaks the rules is a defect in the code, reported like a mismatch. */
function invalid(message: string): AppError {
  return new AppError(500, StoreErrors.MIGRATION_MISMATCH, message, { retryable: false });
}
