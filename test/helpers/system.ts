// Starts a whole archlab system (`archlab up`) as a real supervisor process for end-to-end tests,
// waits for its gateway, and stops it (and checks that no process is left) after the test.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type RunFile, readRunFile } from '../../src/supervisor/run-file.ts';
import { waitFor } from './wait-for.ts';

export const CLI = new URL('../../src/cli/index.ts', import.meta.url).pathname;

export interface RunningSystem {
  gateway: string;
  dataDir: string;
  supervisor: ChildProcess;
  adminToken: string;
  run(): Promise<RunFile>;
  /** SIGINT to the supervisor (Ctrl-C); resolves with its exit code once it has exited. */
  stop(): Promise<number | null>;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startSystem(
  t: Pick<TestContext, 'after'>,
  options: { env?: Record<string, string>; topology?: string; startTimeoutMs?: number } = {},
): Promise<RunningSystem> {
  // Removed by the same hook that stops the system, after it stopped: node:test runs after-hooks in
  // the order they were added, so a separate tmpDir hook would delete the directory under it.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'archlab-e2e-'));
  const args = [CLI, 'up', '--port', '0', '--data', dataDir];
  if (options.topology !== undefined) args.push('--topology', options.topology);
  const supervisor = spawn(process.execPath, args, {
    env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  supervisor.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  supervisor.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)));

  let stopped = false;
  const stop = async () => {
    if (!stopped) {
      stopped = true;
      supervisor.kill('SIGINT');
    }
    return exited;
  };
  t.after(async () => {
    const run = await readRunFile(dataDir).catch(() => undefined);
    // A supervisor that does not stop within 30 s is killed (its children are reaped below).
    const deadline = setTimeout(() => supervisor.kill('SIGKILL'), 30_000);
    await stop();
    clearTimeout(deadline);
    // Whatever happened in the test, leave no process behind.
    for (const pid of (run?.instances ?? []).map((i) => i.pid).filter((p): p is number => p !== null)) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = await waitFor(
    async () => {
      if (supervisor.exitCode !== null) throw new Error(`supervisor exited (${supervisor.exitCode}): ${output}`);
      const file = await readRunFile(dataDir);
      return file?.gateway ? file : undefined;
    },
    { timeoutMs: options.startTimeoutMs ?? 30_000, what: 'the gateway to be up' },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${output}`, { cause: error });
  });
  return {
    gateway: run.gateway!,
    dataDir,
    supervisor,
    adminToken: readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim(),
    run: async () => (await readRunFile(dataDir))!,
    stop,
  };
}

/** JSON request helper: returns status, parsed body and headers. */
export async function call(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

export interface RunningProgram {
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs one program (`archlab run <program>`) as a real child process and waits until it listens. */
export async function startProgram(
  t: TestContext,
  options: { program: string; instance: string; dataDir: string; env?: Record<string, string> },
): Promise<RunningProgram> {
  const { fork } = await import('node:child_process');
  const child = fork(CLI, ['run', options.program, '--instance', options.instance, '--data', options.dataDir], {
    env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error', ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (message: { type: string; url?: string; message?: string }) => {
      if (message.type === 'listening') resolve(message.url!);
      if (message.type === 'failed') reject(new Error(`${options.instance} failed to start: ${message.message}`));
    });
    void exited.then(({ code, signal }) => reject(new Error(`${options.instance} exited (${code ?? signal})`)));
  });
  return { url, child, exited };
}
