// Picks the bus backend from its URL. Backends are imported lazily so a process loads only the driver
// it uses (and the CLI's --help loads none).
import { AppError } from '../kit/errors.ts';
import { sqliteUrlPath } from '../kit/sqlite-url.ts';
import type { Bus } from './bus.ts';
import { BusErrors } from './errors.ts';
import type { SqliteBusOptions } from './sqlite/bus.ts';

export type CreateBusOptions = SqliteBusOptions;

interface Backend {
  /** URL scheme including the colon, e.g. 'sqlite:'. */
  scheme: string;
  open(url: string, options: CreateBusOptions): Promise<Bus>;
}

const backends: readonly Backend[] = [
  {
    scheme: 'sqlite:',
    open: async (url, options) => (await import('./sqlite/bus.ts')).openSqliteBus(sqliteFile(url), options),
  },
  {
    scheme: 'redis:',
    open: async (url, options) => (await import('./redis/bus.ts')).openRedisBus(url, options),
  },
];

const SUPPORTED = "'sqlite:<file>', 'sqlite::memory:' or 'redis://host:port/db'";

/**
 * `sqlite:<file>` (relative to the working directory, or absolute; `sqlite:///abs/path` too),
 * `sqlite::memory:` for a bus private to this process, or `redis://host:port/db?prefix=<key prefix>`.
 */
export async function createBus(url: string, options: CreateBusOptions = {}): Promise<Bus> {
  const backend = backends.find((b) => url.startsWith(b.scheme));
  if (!backend) throw badUrl(url, `expected ${SUPPORTED}`);
  return backend.open(url, options);
}

function sqliteFile(url: string): string {
  const parsed = sqliteUrlPath(url, 'file');
  if ('error' in parsed) throw badUrl(url, parsed.error);
  return parsed.path;
}

function badUrl(url: string, reason: string): AppError {
  // A broker URL may carry a password; never echo it.
  const shown = url.replace(/\/\/[^/@]*@/, '//***@');
  return new AppError(400, BusErrors.BAD_URL, `unsupported bus URL '${shown}': ${reason}`, { details: { url: shown } });
}
