// A whole archlab system for the fail-over bench: `archlab up` on a topology file and a data
// directory of its own, as a real supervisor process, and its loopback admin port (instance states,
// process faults). However the bench ends, no process is left behind: a normal end or an error stops
// each system with SIGINT (the supervisor stops its own children) and waits for it; SIGINT/SIGTERM/
// SIGHUP to the bench does the same before leaving; a bare exit SIGKILLs whatever is still listed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceStatus, RunFile } from '../../src/supervisor/run-file.ts';
import { until } from './wait.ts';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
const START_TIMEOUT_MS = 60_000;
// The supervisor gives each child 10 s after SIGTERM; past that and a margin, it is killed.
const STOP_TIMEOUT_MS = 20_000;
const OUTPUT_TAIL_CHARS = 16_384;
const ADMIN_TIMEOUT_MS = 30_000;

export type FaultAction = 'kill' | 'hang' | 'resume' | 'restart';

export interface System {
  dataDir: string;
  /** run.json as it was once the gateway served; every URL in it stays valid (ports are fixed). */
  run: RunFile;
  gateway: string;
  urlOf(instance: string): string;
  /** POST <supervisorAdmin>/instances/<instance>/<action>; resolves once the supervisor answered. */
  fault(instance: string, action: FaultAction, body?: { hold: boolean }): Promise<InstanceStatus>;
  instances(): Promise<InstanceStatus[]>;
  /** The supervisor's last few KiB of output. */
  output(): string;
  /** SIGINT, then waits for the supervisor to exit; SIGKILL to it and its instances past the timeout. */
  stop(): Promise<void>;
}

interface Live {
  child: ChildProcess;
  dataDir: string;
  stop(): Promise<void>;
}

const live = new Set<Live>();
const tempDirs = new Set<string>();

/** A temporary directory removed when the bench exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function stopSystemsOnExit() {
  const removeTempDirs = () => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  };
  process.on('exit', function killWhatIsLeft() {
    for (const system of live) killHard(system);
    live.clear();
    removeTempDirs();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, async function stopOnSignal() {
      console.error(`\n${signal}: stopping ${live.size} archlab system(s) and leaving`);
      await Promise.allSettled([...live].map((system) => system.stop()));
      removeTempDirs();
      // The listener is gone (once), so this ends the process the way the signal would have (a death
      // by signal skips the exit handlers, hence the cleanup above).
      process.kill(process.pid, signal);
    });
  }
}

/** Every pid run.json lists (instances, monitor, gateway), read synchronously for the exit handler. */
function listedPids(dataDir: string): number[] {
  try {
    const run = JSON.parse(readFileSync(path.join(dataDir, 'run.json'), 'utf8')) as RunFile;
    return run.instances.map((i) => i.pid).filter((pid): pid is number => pid !== null);
  } catch {
    return [];
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killHard(system: Live) {
  if (system.child.exitCode === null && system.child.signalCode === null) system.child.kill('SIGKILL');
  for (const pid of listedPids(system.dataDir)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

export async function startSystem(options: {
  name: string;
  topology: string;
  /** A fresh directory, or one the bench has prepared (events already on the bus). */
  dataDir: string;
  logLevel: string;
}): Promise<System> {
  const { dataDir } = options;
  const topologyFile = path.join(tempDir('archlab-bench-topology-'), 'archlab.yaml');
  writeFileSync(topologyFile, options.topology);
  const child = spawn(process.execPath, [CLI, 'up', '--topology', topologyFile, '--data', dataDir, '--port', '0'], {
    // Empty store and bus variables count as unset: the system keeps its stores and bus in dataDir.
    env: { ...process.env, ARCHLAB_LOG_LEVEL: options.logLevel, ARCHLAB_STORE_URL: '', ARCHLAB_BUS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let stopping: Promise<void> | undefined;
  const entry: Live = {
    child,
    dataDir,
    stop() {
      stopping ??= (async () => {
        const pids = listedPids(dataDir);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        const timer = setTimeout(() => {
          console.error(`${options.name}: the supervisor did not stop within ${STOP_TIMEOUT_MS} ms; killing it`);
          killHard(entry);
        }, STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
        // Whatever happened, leave no instance behind.
        for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        live.delete(entry);
      })();
      return stopping;
    },
  };
  live.add(entry);

  let run: RunFile;
  try {
    run = await until(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`archlab up exited (${child.exitCode ?? child.signalCode}):\n${text}`);
        }
        const file = readRunFileSync(dataDir);
        return file?.gateway ? file : undefined;
      },
      { timeoutMs: START_TIMEOUT_MS, what: `${options.name}: the gateway to be up` },
    );
  } catch (error) {
    await entry.stop();
    throw error;
  }
  const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const admin = async (method: 'GET' | 'POST', route: string, body?: unknown) => {
    const res = await fetch(`${run.supervisorAdmin}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
    });
    const answer = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${route} answered ${res.status}: ${answer}`);
    return JSON.parse(answer) as unknown;
  };
  return {
    dataDir,
    run,
    gateway: run.gateway!,
    urlOf(instance) {
      const found = run.instances.find((i) => i.name === instance);
      if (found === undefined) throw new Error(`run.json lists no instance ${instance}`);
      return found.url;
    },
    fault: async (instance, action, body = { hold: false }) =>
      (await admin('POST', `/instances/${instance}/${action}`, body)) as InstanceStatus,
    instances: async () => ((await admin('GET', '/instances')) as { instances: InstanceStatus[] }).instances,
    output: () => text,
    stop: entry.stop,
  };
}

function readRunFileSync(dataDir: string): RunFile | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dataDir, 'run.json'), 'utf8')) as RunFile;
  } catch {
    return undefined; // not written yet, or being renamed into place
  }
}
