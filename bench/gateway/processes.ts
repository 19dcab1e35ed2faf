// The gateway bench's child processes: started, awaited until they serve, stopped gracefully (so a
// child under --cpu-prof gets to write its profile), and killed however the bench ends: normally,
// on an error, or on SIGINT/SIGTERM/SIGHUP.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** What a node child program sends over IPC once it serves (see serve.ts). */
export interface Ready {
  url: string;
  /** Named paths the program serves, e.g. the gateway's routes. */
  paths: Record<string, string>;
}

export interface Running {
  name: string;
  pid: number;
  url: string;
  paths: Record<string, string>;
  /** The last few KiB the process printed (stdout and stderr together). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within the grace time; resolves to the exit code. */
  stop(): Promise<number | null>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 8192;

const live = new Set<ChildProcess>();

/**
 * Kills every child still running when this process exits or is interrupted, then runs `cleanup`.
 * On a signal the children get SIGKILL at once: an interrupted run has no profile worth waiting for.
 */
export function killChildrenOnExit(cleanup: () => void) {
  const killAll = () => {
    for (const child of live) child.kill('SIGKILL');
    live.clear();
  };
  process.on('exit', () => {
    killAll();
    cleanup();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, function stopOnSignal() {
      console.error(`\n${signal}: killing ${live.size} child process(es) and leaving`);
      killAll();
      cleanup();
      // The listener is gone (once), so this ends the process the way the signal would have.
      process.kill(process.pid, signal);
    });
  }
}

function track(child: ChildProcess): () => string {
  live.add(child);
  child.once('exit', () => live.delete(child));
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Forks a node program of this folder and waits for its Ready message. */
export async function startProgram(
  name: string,
  file: URL,
  args: readonly string[],
  execArgv: readonly string[] = [],
): Promise<Running> {
  const child = fork(fileURLToPath(file), args, { execArgv: [...execArgv], silent: true });
  const output = track(child);
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${output()}`));
    }, START_TIMEOUT_MS);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as Ready);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${output()}`));
    });
  });
  return { name, pid: child.pid!, url: ready.url, paths: ready.paths, output, stop: () => stop(child) };
}

/** Spawns a server that is not a node program (nginx) and waits until `port` accepts connections. */
export async function startServer(
  name: string,
  command: string,
  args: readonly string[],
  port: number,
  diagnostics: () => string,
): Promise<Running> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = track(child);
  const output = () => `${tail()}${diagnostics()}`;
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before serving:\n${output()}`);
    }
    if (await accepts(port)) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not listen on ${port} within ${START_TIMEOUT_MS} ms:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { name, pid: child.pid!, url: `http://127.0.0.1:${port}`, paths: {}, output, stop: () => stop(child) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (wrk, apt-get), killed with the rest if the bench is interrupted. */
export function run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', (error) => {
      live.delete(child);
      reject(error);
    });
    child.once('close', (code) => {
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

// USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux ABI Node runs on.
const TICKS_PER_SECOND = 100;

/** CPU time a process has used so far in user space and in the kernel, in seconds, from /proc; NaN when unreadable. */
export function cpuTimes(pid: number | 'self'): { user: number; system: number } {
  const fields = statFields(pid);
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

export function cpuSeconds(pid: number | 'self'): number {
  const { user, system } = cpuTimes(pid);
  return user + system;
}

/** CPU time of this process's children that have exited and been reaped (wrk runs), in seconds. */
export function reapedChildrenCpuSeconds(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
}

/** CPU time every core has spent busy (user, nice, system, irq, softirq, steal), in seconds. */
export function machineBusySeconds(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** /proc/<pid>/stat from field 3 (state) on; the command name (field 2) may contain spaces. */
function statFields(pid: number | 'self'): string[] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return [];
  }
}
