// One OS process per instance. Each is forked with an IPC channel: the child reports its address over
// it, and notices (channel closed) when the supervisor dies, so a killed supervisor leaves no orphans.
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';

export const CLI_ENTRY = new URL('../cli/index.ts', import.meta.url);

export interface SpawnOptions {
  /** Instance name; also names its log file. */
  name: string;
  program: string;
  port: number;
  dataDir: string;
  topologyFile: string;
  env: Record<string, string>;
}

export type ChildMessage = { type: 'listening'; url: string } | { type: 'failed'; message: string };

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  signal(signal: NodeJS.Signals): boolean;
}

export function logFile(dataDir: string, name: string): string {
  return path.join(dataDir, 'logs', `${name}.log`);
}

export function spawnInstance(options: SpawnOptions, onMessage: (message: ChildMessage) => void): ManagedProcess {
  const file = logFile(options.dataDir, options.name);
  mkdirSync(path.dirname(file), { recursive: true });
  const out = openSync(file, 'a');
  let child: ChildProcess;
  try {
    child = fork(
      CLI_ENTRY,
      [
        'run',
        options.program,
        '--instance',
        options.name,
        '--port',
        String(options.port),
        '--data',
        options.dataDir,
        '--topology',
        options.topologyFile,
      ],
      { stdio: ['ignore', out, out, 'ipc'], env: { ...process.env, ...options.env }, execArgv: [] },
    );
  } finally {
    closeSync(out); // the child holds its own copy
  }
  child.on('message', (message) => onMessage(message as ChildMessage));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    pid: child.pid,
    exited,
    signal: (signal) => child.kill(signal),
  };
}
