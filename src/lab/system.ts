// A system under test: `archlab up` as a child process on a data directory of its own, found through
// its run.json, faulted through the supervisor's admin port, stopped with SIGINT (SIGKILL after a
// grace period, and its children reaped).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../kit/errors.ts';
import { type InstanceStatus, type RunFile, readRunFile, TOKEN_FILE } from '../supervisor/run-file.ts';
import { LabErrors } from './errors.ts';

const CLI = new URL('../cli/index.ts', import.meta.url).pathname;
const STOP_GRACE_MS = 30_000;

export interface SystemUnderTest {
  dataDir: string;
  run: RunFile;
  token: string;
  instances(): Promise<InstanceStatus[]>;
  fault(action: string, target: string, hold: boolean): Promise<void>;
  /** Sets (or, with value undefined, clears) a request fault switch on one instance. */
  requestFault(target: string, name: string, value: number | undefined): Promise<void>;
  stop(): Promise<void>;
}

export async function startSystem(options: {
  topologyFile: string;
  dataDir: string;
  startTimeoutMs?: number;
  /** Added to the environment of `archlab up` and so of every process it starts (e.g. ARCHLAB_BUS_URL). */
  env?: Record<string, string>;
}): Promise<SystemUnderTest> {
  const child = spawn(
    process.execPath,
    [CLI, 'up', '--topology', options.topologyFile, '--data', options.dataDir, '--port', '0'],
    {
      env: { ...process.env, ARCHLAB_LOG_LEVEL: process.env.ARCHLAB_LOG_LEVEL ?? 'warn', ...options.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let errors = '';
  child.stderr!.on('data', (chunk) => {
    errors = (errors + chunk).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ctrl-C on the experiment stops the system under test first (its supervisor stops its children).
  const interrupted = () => {
    child.kill('SIGINT');
    void exited.then(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  void exited.then(() => {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let run: RunFile | undefined;
  while (run?.gateway == null) {
    if (child.exitCode !== null) {
      throw new AppError(500, LabErrors.SYSTEM_FAILED, `archlab up exited (${child.exitCode}): ${errors}`);
    }
    if (Date.now() > deadline) {
      await stopChild(child, exited, options.dataDir);
      throw new AppError(500, LabErrors.SYSTEM_FAILED, `the system did not start in time: ${errors}`);
    }
    await sleep(50);
    run = await readRunFile(options.dataDir).catch(() => undefined);
  }
  const token = (await readFile(path.join(options.dataDir, TOKEN_FILE), 'utf8')).trim();
  const admin = async (method: string, pathname: string, body?: unknown) => {
    const res = await fetch(`${run.supervisorAdmin}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await res.json()) as { error?: { message: string } };
    if (!res.ok) throw new AppError(res.status, LabErrors.FAULT_FAILED, answer.error?.message ?? `HTTP ${res.status}`);
    return answer;
  };
  const started: RunFile = run;
  return {
    dataDir: options.dataDir,
    run: started,
    token,
    instances: async () => ((await admin('GET', '/instances')) as { instances: InstanceStatus[] }).instances,
    async fault(action, target, hold) {
      await admin('POST', `/instances/${encodeURIComponent(target)}/${action}`, hold ? { hold: true } : {});
    },
    async requestFault(target, name, value) {
      const instances = ((await admin('GET', '/instances')) as { instances: InstanceStatus[] }).instances;
      const instance = instances.find((i) => i.name === target);
      if (instance === undefined) throw new AppError(404, LabErrors.FAULT_FAILED, `no instance named ${target}`);
      const res = await fetch(`${instance.url}/_admin/faults/${name}`, {
        method: value === undefined ? 'DELETE' : 'PUT',
        // No content-type without a body: Fastify refuses an empty JSON body.
        headers: {
          authorization: `Bearer ${token}`,
          ...(value === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: value === undefined ? undefined : JSON.stringify({ value }),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new AppError(res.status, LabErrors.FAULT_FAILED, `${target}: ${await res.text()}`);
    },
    stop: () => stopChild(child, exited, options.dataDir),
  };
}

/** Waits until every instance that should run is running and the monitor sees it up. */
export async function waitUntilHealthy(system: SystemUnderTest, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const instances = await system.instances();
    const expected = instances.filter((i) => i.state !== 'standby' && i.name !== 'gateway' && i.name !== 'monitor');
    if (expected.every((i) => i.state === 'running' && i.health === 'up')) return;
    if (Date.now() > deadline) {
      const waiting = expected.filter((i) => i.health !== 'up').map((i) => `${i.name} (${i.state}, ${i.health})`);
      throw new AppError(500, LabErrors.SYSTEM_FAILED, `instances not up in time: ${waiting.join(', ')}`);
    }
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>, dataDir: string) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
  if (!killed) return; // the supervisor stopped its children itself
  // A supervisor killed the hard way leaves its children: reap the ones its run.json names now.
  const run = await readRunFile(dataDir).catch(() => undefined);
  for (const pid of (run?.instances ?? []).map((i) => i.pid)) {
    if (pid === null) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
