// Fail-over bench: whole archlab systems (`archlab up`, real processes on 127.0.0.1) under process
// faults, with the monitor at intervalMs 100, timeoutMs 50, failureThreshold 2, successThreshold 2.
//   1. detection: the serving primary of an active trio is killed (SIGKILL, held) or hung (SIGSTOP)
//      at a random point of the ping schedule; fault POST → the monitor's DOWN, against the bound
//      interval × threshold + timeout = 250 ms;
//   2. client-visible failures: an open-model load of GET /api-queries/users through the gateway runs
//      during every round (target: none);
//   3. passive fail-over: a cold spare that must replay 10⁵ events from zero; crash → spare ready and
//      crash → first read the gateway serves from it (target ≤ 1 s), and the resync rate.
//   npm run bench -- failover
//   (BENCH_ROUNDS=20 BENCH_RATE=500 BENCH_WARMUP_SECONDS=2 BENCH_EVENTS=100000 BENCH_PASSIVE_ROUNDS=20 BENCH_BUDGET_SECONDS=300
//   by default; passive rounds stop early, after at least 5, when the next would overrun the budget)
import os from 'node:os';
import { activeTopology, PRIMARY, registerUsers, runActive } from './failover/active.ts';
import { failedCount, type LoadReport } from './failover/open-load.ts';
import {
  logFile,
  type PassiveRound,
  passiveRound,
  passiveTopology,
  projectionFromLog,
  SPARE,
  seedEvents,
  waitReady,
} from './failover/passive.ts';
import { printCounts, printTable } from './failover/report.ts';
import { startSystem, stopSystemsOnExit, tempDir } from './failover/system.ts';
import { followTransitions, type Transitions } from './failover/transitions.ts';

const SETTINGS = { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 };
const MONITOR = `monitor: { intervalMs: ${SETTINGS.intervalMs}, timeoutMs: ${SETTINGS.timeoutMs}, failureThreshold: ${SETTINGS.failureThreshold}, successThreshold: ${SETTINGS.successThreshold} }`;
const BOUND_MS = SETTINGS.intervalMs * SETTINGS.failureThreshold + SETTINGS.timeoutMs;
const ENV = [
  'BENCH_ROUNDS',
  'BENCH_RATE',
  'BENCH_WARMUP_SECONDS',
  'BENCH_EVENTS',
  'BENCH_PASSIVE_ROUNDS',
  'BENCH_BUDGET_SECONDS',
];
const rounds = Number(process.env.BENCH_ROUNDS ?? 20);
const ratePerSecond = Number(process.env.BENCH_RATE ?? 500);
const warmupMs = Number(process.env.BENCH_WARMUP_SECONDS ?? 2) * 1000;
const events = Number(process.env.BENCH_EVENTS ?? 100_000);
const passiveRounds = Number(process.env.BENCH_PASSIVE_ROUNDS ?? 20);
const budgetMs = Number(process.env.BENCH_BUDGET_SECONDS ?? 300) * 1000;
const MIN_PASSIVE_ROUNDS = 5;
const USERS = 20;
const CLIENT_TIMEOUT_MS = 2_000;
const INITIAL_PROJECTION_TIMEOUT_MS = 180_000;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
stopSystemsOnExit();
printHeader();
try {
  await activeSection();
  await passiveSection();
} catch (error) {
  console.error(`\nfail-over bench failed after ${elapsed()}: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
}
console.log(`\nelapsed: ${elapsed()}`);

function printHeader() {
  const env = ENV.filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${process.env[name]} `)
    .join('');
  console.log(`archlab fail-over bench: ${env}npm run bench -- failover`);
  console.log(
    `node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), ` +
      `load average ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
  );
  console.log(
    `monitor ${JSON.stringify(SETTINGS)}: DOWN bound interval × threshold + timeout = ${BOUND_MS} ms. ` +
      `Every process (supervisor, monitor, gateway, instances, this load) shares these cores.`,
  );
}

async function activeSection() {
  console.log(
    `\n## 1–2. Active trio (users-queries ×3, primary-backup): ${rounds} kill rounds then ${rounds} hang rounds,` +
      ` open-model load ${ratePerSecond} GET /api-queries/users per second throughout (${warmupMs / 1000} s of it before` +
      ' the first fault of each kind, counted)',
  );
  const system = await startSystem({
    name: 'active trio',
    topology: activeTopology(MONITOR),
    dataDir: tempDir('archlab-bench-failover-active-'),
    logLevel: 'warn',
  });
  let feed: Transitions | undefined;
  try {
    feed = await followTransitions(system.run.monitor);
    await registerUsers(system, USERS);
    const result = await runActive(
      system,
      feed,
      { rounds, users: USERS, ratePerSecond, clientTimeoutMs: CLIENT_TIMEOUT_MS, warmupMs },
      console.log,
    );
    const of = (kind: 'kill' | 'hang') => result.rounds.filter((r) => r.kind === kind);
    const pick = (kind: 'kill' | 'hang', key: 'detectionMs' | 'monitorDetectionMs' | 'failBackMs' | 'clientFailures') =>
      of(kind).map((r) => r[key]);
    printTable(
      `### 1. Detection: fault POST (t0) → monitor DOWN; target: worst ≤ ${BOUND_MS} ms (interval × threshold + timeout)`,
      [
        { measure: 'kill: DOWN − t0', values: pick('kill', 'detectionMs'), unit: 'ms', target: BOUND_MS },
        { measure: 'hang: DOWN − t0', values: pick('hang', 'detectionMs'), unit: 'ms', target: BOUND_MS },
        {
          measure: "kill: monitor's detectionMs (DOWN − first missed ping)",
          values: pick('kill', 'monitorDetectionMs'),
          unit: 'ms',
        },
        { measure: "hang: monitor's detectionMs", values: pick('hang', 'monitorDetectionMs'), unit: 'ms' },
        {
          measure: 't0 → first missed ping sent (where faults fell on the 100 ms grid)',
          values: result.rounds.map((r) => r.firstMissMs),
          unit: 'ms',
        },
        {
          measure: 'fault POST answered (kill waits for the exit)',
          values: result.rounds.map((r) => r.faultCallMs),
          unit: 'ms',
          digits: 1,
        },
        { measure: 'DOWN → received on the feed', values: result.rounds.map((r) => r.feedLagMs), unit: 'ms' },
        {
          measure: 'kill: restart POST → gateway serves users-queries-1',
          values: pick('kill', 'failBackMs'),
          unit: 'ms',
        },
        {
          measure: 'hang: resume POST → gateway serves users-queries-1',
          values: pick('hang', 'failBackMs'),
          unit: 'ms',
        },
      ],
    );
    printTable(
      `### 2. Client-visible failures at ${ratePerSecond} req/s (open model, ${CLIENT_TIMEOUT_MS} ms client timeout), per round; target 0`,
      [
        {
          measure: 'kill rounds: non-200, wrong body, timeout or error',
          values: pick('kill', 'clientFailures'),
          unit: 'requests',
          target: 0,
        },
        {
          measure: 'hang rounds: non-200, wrong body, timeout or error',
          values: pick('hang', 'clientFailures'),
          unit: 'requests',
          target: 0,
        },
      ],
    );
    for (const kind of ['kill', 'hang'] as const) {
      printLoad(kind, result.loads[kind]);
      console.log(
        `gateway counters over the ${kind} rounds (users-queries): ${JSON.stringify(result.gatewayCounters[kind])}`,
      );
    }
    if (result.otherDowns.length > 0)
      console.log(`\nother instances the monitor called down:\n  ${result.otherDowns.join('\n  ')}`);
    if (feed.outages > 0) console.log(`\nthe monitor feed was lost ${feed.outages} time(s) during the section`);
  } finally {
    feed?.close();
    await system.stop();
  }
}

function printLoad(kind: string, load: LoadReport) {
  const rate = (load.sent / load.elapsedMs) * 1000;
  printCounts(
    `${kind} phase, whole: ${load.sent} requests in ${(load.elapsedMs / 1000).toFixed(1)} s (${rate.toFixed(0)}/s, ` +
      `send lag ≤ ${load.maxSendLagMs.toFixed(1)} ms); latency p50 ${load.p50Ms.toFixed(1)} ms, p99 ${load.p99Ms.toFixed(1)} ms,` +
      ` max ${load.maxMs.toFixed(0)} ms; 200s served by ${JSON.stringify(load.servedBy)}`,
    [
      { measure: 'sent', count: load.sent },
      { measure: 'answered 200 with every user', count: load.ok },
      {
        measure: `non-200 ${JSON.stringify(load.statuses)}`,
        count: Object.values(load.statuses).reduce((a, b) => a + b, 0),
        target: 0,
      },
      { measure: '200 with a wrong body', count: load.wrong, target: 0 },
      { measure: `client timeouts (${CLIENT_TIMEOUT_MS} ms)`, count: load.timeouts, target: 0 },
      {
        measure: `client errors ${JSON.stringify(load.errors)}`,
        count: Object.values(load.errors).reduce((a, b) => a + b, 0),
        target: 0,
      },
      { measure: 'all failures', count: failedCount(load), target: 0 },
    ],
  );
  if (load.failures.length > 0) {
    console.log(`first failures (${kind} phase):`);
    for (const f of load.failures.slice(0, 10)) console.log(`  ${new Date(f.sentAt).toISOString()}  ${f.what}`);
  }
}

async function passiveSection() {
  console.log(
    `\n## 3. Passive cold spare with ${events} events to resync (users-queries + ${SPARE}, cold): up to ${passiveRounds} rounds`,
  );
  const dataDir = tempDir('archlab-bench-failover-passive-');
  const seeding = performance.now();
  const head = await seedEvents(dataDir, events);
  console.log(
    `  appended ${head} user.registered events to the users stream in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
  );
  const booting = performance.now();
  const system = await startSystem({
    name: 'passive cold spare',
    topology: passiveTopology(MONITOR),
    dataDir,
    logLevel: 'info', // the projector's "catching up" / "caught up" lines time the resync
  });
  let feed: Transitions | undefined;
  const done: PassiveRound[] = [];
  try {
    feed = await followTransitions(system.run.monitor);
    await waitReady(system, PRIMARY, head, INITIAL_PROJECTION_TIMEOUT_MS);
    const initial = projectionFromLog(logFile(system, PRIMARY), 0);
    console.log(
      `  ${PRIMARY} ready at position ${head} ${((performance.now() - booting) / 1000).toFixed(1)} s after archlab up` +
        (initial === undefined
          ? ''
          : `; its first projection: ${initial.replayed} events in ${initial.caughtUpAt - initial.catchingUpAt} ms` +
            ` (${((initial.replayed / (initial.caughtUpAt - initial.catchingUpAt)) * 1000).toFixed(0)} events/s)`),
    );
    let longestMs = 0;
    for (let round = 1; round <= passiveRounds; round++) {
      const remaining = budgetMs - (performance.now() - started);
      if (round > MIN_PASSIVE_ROUNDS && remaining < longestMs * 1.2) {
        console.log(`  stopping after ${round - 1} rounds: the next would overrun the ${budgetMs / 1000} s budget`);
        break;
      }
      const roundStarted = performance.now();
      const r = await passiveRound(system, feed, round);
      longestMs = Math.max(longestMs, performance.now() - roundStarted);
      done.push(r);
      console.log(
        `  round ${String(round).padStart(2)}: DOWN ${r.detectionMs} ms, spare ready ${r.spareReadyMs} ms, served ${r.servedMs} ms` +
          ` (start ${r.startMs} + resync ${r.resyncMs} of ${r.replayed} events + admit ${r.admitMs} ms);` +
          ` deleted ${(r.deletedBytes / 1e6).toFixed(1)} MB; gap answers ${JSON.stringify(r.gap)}; fail-back ${r.failBackMs.toFixed(0)} ms`,
      );
    }
  } finally {
    feed?.close();
    await system.stop();
  }
  const pick = (f: (r: PassiveRound) => number) => done.map(f);
  printTable(`### 3. Passive fail-over, ${events} events to resync, ${done.length} rounds; target ≤ 1000 ms`, [
    { measure: 'crash → primary DOWN', values: pick((r) => r.detectionMs), unit: 'ms' },
    { measure: 'crash → spare /health ready', values: pick((r) => r.spareReadyMs), unit: 'ms', target: 1000 },
    {
      measure: `crash → first 200 from ${SPARE} via the gateway`,
      values: pick((r) => r.servedMs),
      unit: 'ms',
      target: 1000,
    },
    { measure: 'DOWN → spare projector started (spawn, boot, store)', values: pick((r) => r.startMs), unit: 'ms' },
    { measure: `resync (${events} events from zero)`, values: pick((r) => r.resyncMs), unit: 'ms' },
    { measure: 'spare caught up → gateway serves it', values: pick((r) => r.admitMs), unit: 'ms' },
    {
      measure: 'resync rate',
      values: pick((r) => (r.replayed / r.resyncMs) * 1000),
      unit: 'events/s',
      higherIsBetter: true,
    },
    { measure: 'restart POST → gateway serves users-queries-1 again', values: pick((r) => r.failBackMs), unit: 'ms' },
  ]);
  const gap: Record<string, number> = {};
  for (const r of done) for (const [key, n] of Object.entries(r.gap)) gap[key] = (gap[key] ?? 0) + n;
  console.log(
    `\ngateway answers to the probe reads (every 10 ms) during the gaps: ${JSON.stringify(gap)};` +
      ` 200s from the spare with an empty read model: ${done.reduce((a, r) => a + r.emptyReads, 0)}`,
  );
}
