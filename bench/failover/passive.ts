// Section 3: passive redundancy with a cold spare that must resync a long stream. The users stream
// gets `events` user.registered events straight through the bus API before `archlab up`; each round
// deletes the spare's read model (so it replays from zero), kills the primary (held), and times the
// spare's readiness and the first read the gateway serves from it; then restarts the primary and
// waits for fail-back and for the spare to be stopped again.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createBus } from '../../src/bus/create-bus.ts';
import { USERS_STREAM, UserEvents, type UserRegistered } from '../../src/services/users/events.ts';
import { PRIMARY, servedBy } from './active.ts';
import type { System } from './system.ts';
import type { Transitions } from './transitions.ts';
import { probe, sleep, until } from './wait.ts';

export const SPARE = 'users-queries-spare-1';
const READ = '/api-queries/users?limit=1';
const APPEND_BATCH = 5_000;
const FAILOVER_TIMEOUT_MS = 120_000;
const STANDBY_TIMEOUT_MS = 30_000;
const PHASE_SPREAD_MS = 100;

export const passiveTopology = (monitor: string) => `${monitor}
services:
  users-commands: {}
  users-queries: { redundancy: { passive: { spares: 1, mode: cold } } }
routes:
  - { prefix: /api-commands/users, service: users-commands }
  - { prefix: /api-queries/users, service: users-queries, idempotent: true, tryTimeoutMs: 300 }
`;

/** Appends `count` user.registered events (unique emails) to the users stream of `<dataDir>/bus.db`. */
export async function seedEvents(dataDir: string, count: number): Promise<number> {
  const bus = await createBus(`sqlite:${path.join(dataDir, 'bus.db')}`);
  try {
    for (let from = 0; from < count; from += APPEND_BATCH) {
      const events = Array.from({ length: Math.min(APPEND_BATCH, count - from) }, (_, i) => {
        const data: UserRegistered = {
          id: randomUUID(),
          email: `seed-${from + i}@bench.example`,
          username: null,
          name: null,
          registeredBy: 'bench',
          registeredAt: Date.now(),
        };
        return { id: randomUUID(), type: UserEvents.REGISTERED, data };
      });
      await bus.append(USERS_STREAM, events);
    }
    return await bus.head(USERS_STREAM);
  } finally {
    await bus.close();
  }
}

/** What an instance's log says about its projector's start and catch-up, after byte `offset`. */
export interface Projection {
  /** The first line this run of the process logged (its store is open: node has booted). */
  firstLogAt: number;
  catchingUpAt: number;
  caughtUpAt: number;
  /** Events replayed: the position reached minus the position it started from. */
  replayed: number;
}

export function logFile(system: System, instance: string) {
  return path.join(system.dataDir, 'logs', `${instance}.log`);
}

export function logSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

/** Undefined until the log holds both projector lines (the log level must be info). */
export function projectionFromLog(file: string, offset: number): Projection | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file).subarray(offset).toString('utf8').split('\n');
  let firstLogAt: number | undefined;
  let catching: { at: number; position: number } | undefined;
  let caught: { at: number; position: number } | undefined;
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    let entry: { time?: string; msg?: string; position?: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line still being written
    }
    const at = Date.parse(entry.time ?? '');
    firstLogAt ??= at;
    if (entry.msg === 'read model catching up') catching = { at, position: entry.position ?? 0 };
    if (entry.msg === 'read model caught up' && catching !== undefined) caught = { at, position: entry.position ?? 0 };
  }
  if (firstLogAt === undefined || catching === undefined || caught === undefined) return undefined;
  return {
    firstLogAt,
    catchingUpAt: catching.at,
    caughtUpAt: caught.at,
    replayed: caught.position - catching.position,
  };
}

export interface PassiveRound {
  round: number;
  phaseMs: number;
  /** Bytes of the spare's read model deleted before the round (0 before its first start). */
  deletedBytes: number;
  detectionMs: number;
  /** t0 → the spare's own /health says ready. */
  spareReadyMs: number;
  /** t0 → the first 200 the gateway served from the spare. */
  servedMs: number;
  /** DOWN → the spare's projector started (the supervisor spawns it, node boots, the store opens). */
  startMs: number;
  resyncMs: number;
  replayed: number;
  /** The spare caught up → the gateway served from it (the monitor's success threshold, the feed). */
  admitMs: number;
  /** What the gateway answered the probe reads in the gap, by status or error. */
  gap: Record<string, number>;
  /** 200s from the spare with no user in them (a read model served before it was ready). */
  emptyReads: number;
  /** restart POST → the gateway serves from the primary again. */
  failBackMs: number;
}

export async function waitReady(system: System, instance: string, position: number, timeoutMs: number) {
  await until(
    async () => {
      const answer = await probe(`${system.urlOf(instance)}/health`);
      if (!('status' in answer) || answer.status !== 200) return false;
      const health = JSON.parse(answer.body) as { ready: boolean; position: number | null };
      return health.ready && health.position === position;
    },
    { timeoutMs, intervalMs: 100, what: `${instance} to be ready at position ${position}` },
  );
}

async function sparePrepared(system: System, feed: Transitions): Promise<number> {
  await until(async () => (await system.instances()).find((i) => i.name === SPARE)?.state === 'standby', {
    timeoutMs: STANDBY_TIMEOUT_MS,
    what: `${SPARE} to be standby`,
  });
  // The gateway must not count a stopped spare as healthy when the primary goes.
  await until(() => feed.state(SPARE) === 'down', { timeoutMs: STANDBY_TIMEOUT_MS, what: `${SPARE} down` });
  let deleted = 0;
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const file = path.join(system.dataDir, `${SPARE}.db${suffix}`);
    deleted += logSize(file);
    rmSync(file, { force: true });
  }
  return deleted;
}

export async function passiveRound(system: System, feed: Transitions, round: number): Promise<PassiveRound> {
  await servedBy(system, feed, PRIMARY, READ);
  const deletedBytes = await sparePrepared(system, feed);
  const log = logFile(system, SPARE);
  const offset = logSize(log);
  const phaseMs = Math.random() * PHASE_SPREAD_MS;
  await sleep(phaseMs);

  const from = feed.seen.length;
  const t0 = Date.now();
  await system.fault(PRIMARY, 'kill', { hold: true });
  const spareReady = until(
    async () => {
      const answer = await probe(`${system.urlOf(SPARE)}/health`, 500);
      return 'status' in answer && answer.status === 200 && Date.now();
    },
    { timeoutMs: FAILOVER_TIMEOUT_MS, intervalMs: 5, what: `${SPARE} ready` },
  );
  const gap: Record<string, number> = {};
  let emptyReads = 0;
  const served = until(
    async () => {
      const answer = await probe(`${system.gateway}${READ}`, 2_000);
      const at = Date.now();
      const key =
        'status' in answer ? `${answer.status}${answer.instance === null ? '' : ` ${answer.instance}`}` : answer.error;
      gap[key] = (gap[key] ?? 0) + 1;
      if (!('status' in answer) || answer.status !== 200 || answer.instance !== SPARE) return false;
      if ((JSON.parse(answer.body) as unknown[]).length === 0) {
        emptyReads++;
        return false;
      }
      return at;
    },
    { timeoutMs: FAILOVER_TIMEOUT_MS, intervalMs: 10, what: `the gateway to serve from ${SPARE}` },
  );
  const [readyAt, servedAt] = await Promise.all([spareReady, served]);
  const down = await feed.next(from, (t) => t.instance === PRIMARY && t.to === 'down', 5_000, `${PRIMARY} down`);
  const downAt = Date.parse(down.transition.time);
  const projection = await until(() => projectionFromLog(log, offset), {
    timeoutMs: 5_000,
    what: `the projector lines in ${log}`,
  });

  const recovering = performance.now();
  await system.fault(PRIMARY, 'restart');
  await servedBy(system, feed, PRIMARY, READ);
  return {
    round,
    phaseMs,
    deletedBytes,
    detectionMs: downAt - t0,
    spareReadyMs: readyAt - t0,
    servedMs: servedAt - t0,
    startMs: projection.catchingUpAt - downAt,
    resyncMs: projection.caughtUpAt - projection.catchingUpAt,
    replayed: projection.replayed,
    admitMs: servedAt - projection.caughtUpAt,
    gap,
    emptyReads,
    failBackMs: performance.now() - recovering,
  };
}
