// The lab's own Redis broker for broker faults: one `redis-server` per variant on a free loopback
// port, its data in the variant's folder. Every write is fsynced to the append-only file before Redis
// answers (appendfsync always) and RDB snapshots are off, so a SIGKILL loses nothing the bus was told
// is stored and a restart loads exactly the AOF. stop() is a graceful SIGTERM (Redis writes the AOF
// and exits), kill() a crash (SIGKILL), start() brings it back on the same port and data directory
// and resolves once it answers PING. close() ends it for good; it also dies with this process
// (Ctrl-C included), so an experiment never leaves a broker behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../kit/errors.ts';
import { freePort } from '../kit/ports.ts';
import { LabErrors } from './errors.ts';

const HOST = '127.0.0.1';
const SERVER = 'redis-server';
const LOG_FILE = 'redis.log';
/** Loading a large AOF takes a while; a fresh or small one is up in milliseconds. */
const START_TIMEOUT_MS = 30_000;
/** A graceful stop writes the AOF and exits; past this the stop becomes a kill. */
const STOP_GRACE_MS = 10_000;
const PING_EVERY_MS = 20;

export interface Broker {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0`; the lab adds `?prefix=`. */
  readonly url: string;
  /** Whether redis-server is running now. */
  running(): boolean;
  /** Starts it again (same port, same data) and resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM: Redis finishes its AOF and exits; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; resolves once it has exited. */
  kill(): Promise<void>;
  /** Stops it for good (gracefully, killed after a grace period); safe to call more than once. */
  close(): Promise<void>;
}

/** The reason broker faults cannot run here, or false when redis-server is on the PATH. */
export function redisServerMissing(): string | false {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  if (dirs.some((dir) => existsSync(path.join(dir, SERVER)))) return false;
  return `${SERVER} is not on the PATH (broker faults start their own Redis)`;
}

/** Starts a private redis-server keeping its data under `dir`; resolves once it answers PING. */
export async function startBroker(dir: string, options: { startTimeoutMs?: number } = {}): Promise<Broker> {
  const missing = redisServerMissing();
  if (missing) throw new AppError(500, LabErrors.SYSTEM_FAILED, missing);
  await mkdir(dir, { recursive: true });
  const port = await freePort(HOST);
  const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const running = () => child?.pid !== undefined && child.exitCode === null && child.signalCode === null;

  const killNow = () => {
    if (running()) child!.kill('SIGKILL');
  };
  const forgetExit = killOnExit(killNow);

  async function start() {
    if (running()) throw new AppError(409, LabErrors.FAULT_FAILED, `the broker on port ${port} is already running`);
    // Its own process group: a Ctrl-C in the terminal reaches the lab, which stops it after the system.
    const spawned = spawn(SERVER, serverArgs(dir, port), { stdio: 'ignore', detached: true });
    child = spawned;
    let spawnError: Error | undefined;
    exited = new Promise((resolve) => {
      spawned.once('exit', () => resolve());
      spawned.once('error', (error) => {
        spawnError = error;
        resolve();
      });
    });
    const problem = await waitForPing(port, Date.now() + startTimeoutMs, () => spawnError !== undefined || !running());
    if (problem === undefined) return;
    killNow();
    const reason = spawnError?.message ?? problem.message;
    throw new AppError(
      500,
      LabErrors.SYSTEM_FAILED,
      `${SERVER} on port ${port} did not start: ${reason}${await logTail(dir)}`,
    );
  }

  async function signal(name: 'SIGTERM' | 'SIGKILL') {
    if (!running()) throw new AppError(409, LabErrors.FAULT_FAILED, `the broker on port ${port} is not running`);
    child!.kill(name);
    const timer = name === 'SIGTERM' ? setTimeout(killNow, STOP_GRACE_MS) : undefined;
    await exited;
    clearTimeout(timer);
  }

  let closing: Promise<void> | undefined;
  function close() {
    closing ??= (async () => {
      if (running()) await signal('SIGTERM');
      forgetExit();
    })();
    return closing;
  }

  try {
    await start();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    port,
    url: `redis://${HOST}:${port}/0`,
    running,
    start,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    close,
  };
}

/**
 * Runs `killNow` (synchronous) when this process ends without running `finally` blocks: process.exit
 * (system.ts ends the lab that way after Ctrl-C) or a signal nobody else handles. Returns the undo.
 */
function killOnExit(killNow: () => void): () => void {
  const interrupted = (signal: NodeJS.Signals) => {
    // Another listener (the system under test) stops first and exits; the exit hook then kills.
    if (process.listenerCount(signal) > 0) return;
    killNow();
    process.exit(130);
  };
  process.on('exit', killNow);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  return () => {
    process.off('exit', killNow);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  };
}

function serverArgs(dir: string, port: number): string[] {
  const settings: [name: string, value: string][] = [
    ['port', String(port)],
    ['bind', HOST],
    ['dir', dir],
    ['logfile', LOG_FILE],
    ['daemonize', 'no'],
    // No RDB snapshots: no save points, so nothing but the AOF is ever written, at shutdown too.
    ['save', ''],
    ['appendonly', 'yes'],
    ['appendfsync', 'always'],
  ];
  return settings.flatMap(([name, value]) => [`--${name}`, value]);
}

/**
 * Sends PING every PING_EVERY_MS until the answer is +PONG (a server still loading its AOF answers
 * -LOADING). Resolves undefined once it does, or an Error when `deadline` passes or `gaveUp()` says
 * to stop (the server exited).
 */
export async function waitForPing(port: number, deadline: number, gaveUp: () => boolean = () => false) {
  let last = 'no answer';
  for (;;) {
    const answer = await ping(port, Math.max(1, deadline - Date.now()));
    if (answer === '+PONG') return undefined;
    last = answer;
    if (gaveUp()) return new Error(`it exited (last PING: ${last})`);
    if (Date.now() >= deadline) return new Error(`no PONG in time (last PING: ${last})`);
    await sleep(PING_EVERY_MS);
  }
}

/** One PING on a fresh connection: the first reply line, or why there was none. */
function ping(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let reply = '';
    const done = (answer: string) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(Math.min(timeoutMs, 1000), () => done('timeout'));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(reply.slice(0, end));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
    socket.once('close', () => done(reply === '' ? 'connection closed' : reply));
  });
}

async function logTail(dir: string): Promise<string> {
  const text = await readFile(path.join(dir, LOG_FILE), 'utf8').catch(() => '');
  const tail = text.trim().split('\n').slice(-5).join('\n');
  return tail === '' ? '' : `\n${tail}`;
}
