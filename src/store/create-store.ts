// Picks the store backend from its URL. Backends are imported lazily so a SQLite-only process never
// loads pg (and the CLI's --help loads neither).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../kit/errors.ts';
import { sqliteUrlPath } from '../kit/sqlite-url.ts';
import { StoreErrors } from './errors.ts';
import type { Store } from './store.ts';

export interface CreateStoreOptions {
  /** The namespace: a file `<name>.db` on SQLite, a schema `<prefix><name>` on PostgreSQL. */
  name: string;
  /** PostgreSQL only: schema prefix; overrides the URL's `?prefix=`. */
  prefix?: string;
  /** PostgreSQL only: connections in the pool (default 10). */
  poolSize?: number;
}

const SUPPORTED = "'sqlite:<dir>', 'sqlite::memory:' or 'postgres://…'";
// Lower case so one name means the same namespace on both backends (PostgreSQL folds identifiers).
const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * `sqlite:<dir>` (relative to the working directory or absolute; created if missing; `sqlite:///abs`
 * too), `sqlite::memory:` (private to this handle, for unit tests), `postgres://…` or
 * `postgresql://…` (optionally `?prefix=<schema prefix>`).
 */
export async function createStore(url: string, options: CreateStoreOptions): Promise<Store> {
  const { name } = options;
  if (!NAME.test(name)) {
    throw new AppError(400, StoreErrors.BAD_URL, `store name '${name}' must match ${NAME}`, { details: { name } });
  }
  if (url === 'sqlite::memory:') {
    return (await import('./sqlite.ts')).openSqliteStore(name, ':memory:');
  }
  if (url.startsWith('sqlite:')) {
    const dir = sqliteDir(url);
    mkdirSync(dir, { recursive: true });
    return (await import('./sqlite.ts')).openSqliteStore(name, path.join(dir, `${name}.db`));
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const parsed = parseUrl(url);
    const prefix = options.prefix ?? parsed.searchParams.get('prefix') ?? '';
    // pg would take an unknown parameter for a connection setting.
    parsed.searchParams.delete('prefix');
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore({ url: parsed.href, name, prefix, poolSize: options.poolSize });
  }
  throw badUrl(url, `expected ${SUPPORTED}`);
}

function sqliteDir(url: string): string {
  const parsed = sqliteUrlPath(url, 'dir');
  if ('error' in parsed) throw badUrl(url, parsed.error);
  return path.resolve(parsed.path);
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw badUrl(url, 'not a valid URL');
  }
}

function badUrl(url: string, reason: string): AppError {
  // A database URL may carry a password; never echo it.
  const shown = url.replace(/\/\/[^/@]*@/, '//***@');
  return new AppError(400, StoreErrors.BAD_URL, `unsupported store URL '${shown}': ${reason}`, {
    details: { url: shown },
  });
}
