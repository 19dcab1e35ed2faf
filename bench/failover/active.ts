// Sections 1 and 2: an active trio (users-queries ×3, primary-backup). Each round kills (SIGKILL,
// held) or hangs (SIGSTOP) the serving primary at a random point of the monitor's ping schedule and
// times the monitor's DOWN decision; then restarts or resumes it and waits until the monitor sees it
// UP and the gateway serves from it again. An open-model load runs through the gateway all along.
import { randomBytes } from 'node:crypto';
import { failedCount, type LoadReport, startOpenLoad } from './open-load.ts';
import type { System } from './system.ts';
import type { Transitions } from './transitions.ts';
import { probe, sleep, until } from './wait.ts';

export const PRIMARY = 'users-queries-1';
const READS = '/api-queries/users';
const RECOVERY_TIMEOUT_MS = 20_000;
const DETECTION_TIMEOUT_MS = 5_000;
/** Faults land uniformly over one ping interval, so they do not all hit the same point of the schedule. */
const PHASE_SPREAD_MS = 100;

export type FaultKind = 'kill' | 'hang';

export interface DetectionRound {
  kind: FaultKind;
  round: number;
  /** The random wait before the fault. */
  phaseMs: number;
  /** Monitor's DOWN time − t0 (just before the fault's POST). */
  detectionMs: number;
  /** The monitor's own figure: DOWN time − when the first missed ping was sent. */
  monitorDetectionMs: number;
  /** t0 → the first missed ping was sent: where the fault fell on the ping grid (negative: a ping in flight). */
  firstMissMs: number;
  /** How long the supervisor took to answer the fault's POST (the signal is sent inside it). */
  faultCallMs: number;
  /** DOWN time → this process received it over the feed. */
  feedLagMs: number;
  reason: string;
  /** restart/resume POST → the gateway serves from the primary again. */
  failBackMs: number;
  /** Load requests that ended in anything but a correct 200 while this round ran. */
  clientFailures: number;
}

export interface ActiveResult {
  rounds: DetectionRound[];
  /** The load that ran during each fault kind's rounds. */
  loads: Record<FaultKind, LoadReport>;
  /** The gateway's own counters for users-queries over each fault kind's rounds (what it retried, refused, ejected). */
  gatewayCounters: Record<FaultKind, Record<string, number>>;
  /** DOWN transitions of instances that were not faulted (a backup overloaded, a false alarm). */
  otherDowns: string[];
}

export const activeTopology = (monitor: string) => `${monitor}
services:
  users-commands: {}
  users-queries: { instances: 3, redundancy: { active: { policy: primary-backup } } }
routes:
  - { prefix: /api-commands/users, service: users-commands }
  - { prefix: /api-queries/users, service: users-queries, idempotent: true, tryTimeoutMs: 300 }
`;

/** Registers `count` users through the gateway and waits until reads on the primary return them all. */
export async function registerUsers(system: System, count: number) {
  const tag = randomBytes(4).toString('hex');
  let seq = 0;
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${system.gateway}/api-commands/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `failover-${tag}-${i}@bench.example`, password: 'bench-password' }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { seq?: number };
    if (res.status !== 201) throw new Error(`registration ${i} answered ${res.status}: ${JSON.stringify(body)}`);
    seq = body.seq!;
  }
  await until(
    async () => {
      const answer = await probe(`${system.gateway}${READS}?minSeq=${seq}`);
      return 'status' in answer && answer.status === 200 && (JSON.parse(answer.body) as unknown[]).length === count;
    },
    { timeoutMs: 15_000, what: `reads to return the ${count} users` },
  );
}

/** Until the monitor calls `instance` up and the gateway answers a read from it. */
export async function servedBy(system: System, feed: Transitions, instance: string, path = `${READS}?limit=1`) {
  await until(
    async () => {
      if (feed.state(instance) !== 'up') return false;
      const answer = await probe(`${system.gateway}${path}`);
      return 'status' in answer && answer.status === 200 && answer.instance === instance;
    },
    { timeoutMs: RECOVERY_TIMEOUT_MS, what: `the gateway to serve from ${instance}` },
  );
}

export async function runActive(
  system: System,
  feed: Transitions,
  options: { rounds: number; users: number; ratePerSecond: number; clientTimeoutMs: number; warmupMs: number },
  progress: (line: string) => void,
): Promise<ActiveResult> {
  const rounds: DetectionRound[] = [];
  const loads = {} as Record<FaultKind, LoadReport>;
  const gatewayCounters = {} as Record<FaultKind, Record<string, number>>;
  const firstIndex = feed.seen.length;
  for (const kind of ['kill', 'hang'] as const) {
    await servedBy(system, feed, PRIMARY);
    const before = await countersOf(system);
    const load = startOpenLoad(system.gateway, READS, {
      ratePerSecond: options.ratePerSecond,
      timeoutMs: options.clientTimeoutMs,
      check: (body) => (JSON.parse(body) as unknown[]).length === options.users,
    });
    try {
      // The gateway's retry budget counts the last 10 s of requests: a fault in the first moments of the
      // load would meet the budget's floor (10 retries), not the steady rate's 20 %.
      await sleep(options.warmupMs);
      for (let round = 1; round <= options.rounds; round++) {
        const failedBefore = load.failed();
        const result = { ...(await oneRound(system, feed, kind, round)), clientFailures: 0 };
        result.clientFailures = load.failed() - failedBefore;
        rounds.push(result);
        progress(
          `  ${kind} ${String(round).padStart(2)}/${options.rounds}: detection ${result.detectionMs} ms` +
            ` (first missed ping ${result.firstMissMs} ms after t0, monitor ${result.monitorDetectionMs} ms, ${result.reason});` +
            ` fail-back ${result.failBackMs.toFixed(0)} ms; ${result.clientFailures} client failures`,
        );
      }
    } finally {
      loads[kind] = await load.stop();
    }
    gatewayCounters[kind] = difference(await countersOf(system), before);
    progress(
      `  load during the ${kind} rounds: ${loads[kind].sent} sent, ${failedCount(loads[kind])} failed, ` +
        `served by ${JSON.stringify(loads[kind].servedBy)}`,
    );
  }
  const otherDowns = feed.seen
    .slice(firstIndex)
    .filter(({ transition }) => transition.to === 'down' && transition.instance !== PRIMARY)
    .map(({ transition: t }) => `${t.instance} ${t.from}→down at ${t.time} (${t.reason})`);
  return { rounds, loads, gatewayCounters, otherDowns };
}

const COUNTERS = [
  'archlab_gateway_upstream_requests_total',
  'archlab_gateway_retries_total',
  'archlab_gateway_retry_budget_refusals_total',
  'archlab_gateway_ejections_total',
];

/** The gateway's users-queries counters from its /metrics, by series (labels shortened). */
async function countersOf(system: System): Promise<Record<string, number>> {
  const text = await (await fetch(`${system.gateway}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const counters: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const name = COUNTERS.find((c) => line.startsWith(`${c}{`));
    if (name === undefined || !line.includes('service="users-queries"')) continue;
    const labels = [...line.matchAll(/(instance|outcome)="([^"]*)"/g)]
      .map((m) => m[2])
      .filter((value) => value !== 'gateway');
    counters[`${name.replace('archlab_gateway_', '')}{${labels.join(',')}}`] = Number(
      line.slice(line.lastIndexOf(' ') + 1),
    );
  }
  return counters;
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) changed[key] = delta;
  }
  return changed;
}

async function oneRound(
  system: System,
  feed: Transitions,
  kind: FaultKind,
  round: number,
): Promise<Omit<DetectionRound, 'clientFailures'>> {
  await servedBy(system, feed, PRIMARY);
  const phaseMs = Math.random() * PHASE_SPREAD_MS;
  await sleep(phaseMs);
  const from = feed.seen.length;
  const t0 = Date.now();
  const called = performance.now();
  await system.fault(PRIMARY, kind, { hold: kind === 'kill' });
  const faultCallMs = performance.now() - called;
  const down = await feed.next(
    from,
    (t) => t.instance === PRIMARY && t.to === 'down',
    DETECTION_TIMEOUT_MS,
    `${PRIMARY} down after ${kind} round ${round}`,
  );
  const downAt = Date.parse(down.transition.time);

  const recovering = performance.now();
  const upFrom = feed.seen.length;
  await system.fault(PRIMARY, kind === 'kill' ? 'restart' : 'resume');
  await feed.next(
    upFrom,
    (t) => t.instance === PRIMARY && t.to === 'up',
    RECOVERY_TIMEOUT_MS,
    `${PRIMARY} up after ${kind === 'kill' ? 'restart' : 'resume'}`,
  );
  await servedBy(system, feed, PRIMARY);
  return {
    kind,
    round,
    phaseMs,
    detectionMs: downAt - t0,
    monitorDetectionMs: down.transition.detectionMs ?? Number.NaN,
    firstMissMs: Date.parse(down.transition.firstMissAt ?? '') - t0,
    faultCallMs,
    feedLagMs: down.receivedAt - downAt,
    reason: down.transition.reason,
    failBackMs: performance.now() - recovering,
  };
}
