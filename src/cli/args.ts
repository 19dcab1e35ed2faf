// Shared option handling for CLI commands: every command finds the system through --data and reads
// the topology through --topology, with the same defaults.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../kit/errors.ts';

export const CliErrors = {
  USAGE: 'usage',
} as const;

export const DEFAULT_DATA_DIR = './data';
const BUNDLED_TOPOLOGY = new URL('../../archlab.yaml', import.meta.url).pathname;

/** --topology, else ./archlab.yaml in the working directory, else the bundled default. */
export function resolveTopologyFile(given: string | undefined): string {
  if (given !== undefined) return path.resolve(given);
  const local = path.resolve('archlab.yaml');
  return existsSync(local) ? local : BUNDLED_TOPOLOGY;
}

export function usage(message: string): AppError {
  return new AppError(400, CliErrors.USAGE, message);
}

export function parsePort(value: string | undefined, flag = '--port'): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw usage(`${flag} must be a port number from 0 to 65535, not "${value}"`);
  return port;
}
