// `npm run bench -- generator`: the lab's load generator (src/lab/load) against a trivial node:http
// server in a child process, at increasing open-model rates, 3 s each: the rate it achieved, how far
// sends lagged the schedule, whether it starved, and its own CPU per request. The peer is wrk
// (closed loop, one thread, the same connection count) against the same server: the ceiling of that
// server on this machine. Bounded to about 20 s; 127.0.0.1 only.
import os from 'node:os';
import { LOAD_DEFAULTS, percentile, runLoad } from '../src/lab/load/generator.ts';
import { cpuSeconds, killChildrenOnExit, startProgram } from './gateway/processes.ts';
import { findCommand, versionOf } from './gateway/tools.ts';
import { wrk } from './gateway/wrk.ts';

const RATES = [5_000, 10_000, 20_000, 30_000];
const DURATION_MS = 3_000;
const GOAL_PER_SECOND = 20_000;

killChildrenOnExit(() => {});
const backend = await startProgram('backend', new URL('./gateway/backend.ts', import.meta.url), []);
console.log(
  `node ${process.version}, ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}); backend ${backend.url} (pid ${backend.pid});` +
    ` generator: one process, one event loop, ${LOAD_DEFAULTS.connections} connections`,
);

interface Row {
  target: string;
  rate: string;
  achieved: number;
  ok: string;
  p50: number;
  p99: number;
  lagP50: number;
  lagP99: number;
  loop: number | null;
  starved: string;
  cpuPercent: number;
  microsPerRequest: number;
  backendPercent: number;
}
const rows: Row[] = [];

try {
  // Warm-up (JIT, connections), not reported.
  await runLoad({
    origin: backend.url,
    streams: [
      {
        name: 'warm',
        schedule: { rate: 5000, durationMs: 1000 },
        template: { method: 'GET', path: '/w/1' },
        timeoutMs: 2000,
      },
    ],
    runId: 'warm',
    seed: 1,
  });
  for (const rate of RATES) {
    const cpu = process.cpuUsage();
    const backendCpu = cpuSeconds(backend.pid);
    const started = performance.now();
    const { records, generator } = await runLoad({
      origin: backend.url,
      streams: [
        {
          name: 'items',
          schedule: { rate, durationMs: DURATION_MS },
          template: { method: 'GET', path: '/items/{{index}}' },
          timeoutMs: 2000,
        },
      ],
      runId: `bench-${rate}`,
      seed: 1,
    });
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000;
    const ok = records.filter((r) => r.status === 200).length;
    const firstScheduled = records[0]!.scheduledAt;
    const lastSent = Math.max(...records.map((r) => r.sentAt));
    const latencies = Float64Array.from(records, (r) => r.latencyMs).sort();
    rows.push({
      target: 'archlab generator',
      rate: String(rate),
      achieved: records.length / ((lastSent - firstScheduled) / 1000 || 1),
      ok: `${ok}/${records.length}`,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      lagP50: generator.lagP50Ms,
      lagP99: generator.lagP99Ms,
      loop: generator.loopDelayP99Ms,
      starved: String(generator.starved),
      cpuPercent: (cpuMs / wallMs) * 100,
      microsPerRequest: (cpuMs * 1000) / records.length,
      backendPercent: ((cpuSeconds(backend.pid) - backendCpu) * 1000 * 100) / wallMs,
    });
    console.log(`  ${rate} req/s done`);
  }

  const wrkPath = findCommand('wrk');
  if (wrkPath === undefined) {
    console.log('\npeer skipped: wrk is not installed (apt-get install wrk); the bench does not install it');
  } else {
    const backendCpu = cpuSeconds(backend.pid);
    const result = await wrk(wrkPath, `${backend.url}/items/1`, {
      threads: 1,
      connections: LOAD_DEFAULTS.connections,
      seconds: DURATION_MS / 1000,
      latency: true,
    });
    rows.push({
      target: `wrk (${await versionOf(wrkPath, ['-v'])})`.slice(0, 40),
      rate: 'closed loop',
      achieved: result.perSecond,
      ok: `${result.requests - result.non2xx}/${result.requests}`,
      p50: result.p50Ms,
      p99: result.p99Ms,
      lagP50: Number.NaN,
      lagP99: Number.NaN,
      loop: null,
      starved: '-',
      cpuPercent: Number.NaN,
      microsPerRequest: Number.NaN,
      backendPercent: ((cpuSeconds(backend.pid) - backendCpu) * 100 * 1000) / DURATION_MS,
    });
  }
} finally {
  await backend.stop();
}

const f = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));
const header = [
  'target',
  'rate',
  'achieved req/s',
  'ok',
  'p50 ms',
  'p99 ms',
  'lag p50',
  'lag p99',
  'loop p99',
  'starved',
  'gen CPU',
  'gen µs/req',
  'backend CPU',
];
console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
for (const r of rows) {
  const cells = [
    r.target,
    r.rate,
    f(r.achieved, 0),
    r.ok,
    f(r.p50, 2),
    f(r.p99, 2),
    f(r.lagP50, 2),
    f(r.lagP99, 2),
    f(r.loop, 1),
    r.starved,
    Number.isFinite(r.cpuPercent) ? `${r.cpuPercent.toFixed(0)}%` : '-',
    f(r.microsPerRequest, 1),
    `${r.backendPercent.toFixed(0)}%`,
  ];
  console.log(`| ${cells.join(' | ')} |`);
}
const measured = rows.filter((r) => r.rate !== 'closed loop');
const starvedAt = measured.filter((r) => r.starved === 'true').map((r) => r.rate);
// The goal is the issue's: 20k req/s on one core. Higher rates are shown to find where it ends.
const atGoal = measured.find((r) => Number(r.rate) === GOAL_PER_SECOND);
const verdict = atGoal !== undefined && atGoal.starved === 'false' ? 'met' : 'MISSED';
console.log(
  `\ngoal: ${verdict}: ${GOAL_PER_SECOND} req/s kept its schedule on one event loop` +
    ` (starved at: ${starvedAt.length === 0 ? 'none' : starvedAt.join(', ')})` +
    '\nlag: actual send − scheduled send; starved: lag p99 > max(5 ms, 10 % of the mean interval); gen CPU: user+sys of this process over the run (% of one core)',
);
