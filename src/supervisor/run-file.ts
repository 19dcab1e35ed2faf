// The data directory is how CLI commands find a running system: the supervisor keeps run.json there
// (addresses, pids, states) and the admin token in a file only its user can read.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceHealth } from '../monitor/types.ts';

export const RUN_FILE = 'run.json';
export const TOKEN_FILE = 'admin-token';

/**
 * standby: a cold spare, not running until its primary fails; held: killed by a fault with --hold,
 * not restarted until asked; hung: stopped with SIGSTOP by a fault.
 */
export type InstanceState =
  | 'starting'
  | 'running'
  | 'hung'
  | 'restarting'
  | 'stopping'
  | 'stopped'
  | 'standby'
  | 'held'
  | 'failed';

export interface InstanceStatus {
  name: string;
  service: string;
  program: string;
  role: string;
  pid: number | null;
  port: number;
  url: string;
  state: InstanceState;
  restarts: number;
  /** A passive spare (`<service>-spare-<n>`). */
  spare: boolean;
  /** The monitor's last word on it (up, syncing, down, unknown); null before the monitor said anything. */
  health: InstanceHealth | null;
}

export interface RunFile {
  supervisorPid: number;
  startedAt: string;
  dataDir: string;
  topology: string | null;
  gateway: string | null;
  /** The supervisor's admin port (loopback; instances and process faults), token in admin-token. */
  supervisorAdmin: string;
  /** The monitor's base URL (GET /events, /instances). */
  monitor: string;
  /** The gateway's admin port (loopback; routing table, pool states, the monitor's feed). */
  gatewayAdmin: string;
  instances: InstanceStatus[];
}

/** Written to a temporary file and renamed, so a reader never sees half a file. */
export async function writeRunFile(dataDir: string, run: RunFile): Promise<void> {
  const file = path.join(dataDir, RUN_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(run, null, 2)}\n`);
  await rename(tmp, file);
}

export async function readRunFile(dataDir: string): Promise<RunFile | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, RUN_FILE), 'utf8')) as RunFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function createAdminToken(dataDir: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await writeFile(path.join(dataDir, TOKEN_FILE), `${token}\n`, { mode: 0o600 });
  return token;
}
