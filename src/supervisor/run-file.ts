// The data directory is how CLI commands find a running system: the supervisor keeps run.json there
// (addresses, pids, states) and the admin token in a file only its user can read.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const RUN_FILE = 'run.json';
export const TOKEN_FILE = 'admin-token';

export type InstanceState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

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
}

export interface RunFile {
  supervisorPid: number;
  startedAt: string;
  dataDir: string;
  topology: string | null;
  gateway: string | null;
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
