import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Transition } from '../../monitor/types.ts';
import type { FaultRecord, RequestRecord, RunRecord } from '../types.ts';
import { computeMetrics, serviceOf } from './metrics.ts';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function request(offsetMs: number, latencyMs: number, status: number, instance: string | null = null): RequestRecord {
  return {
    stream: 's',
    index: 0,
    method: 'GET',
    path: '/',
    scheduledAt: T0 + offsetMs,
    sentAt: T0 + offsetMs,
    endedAt: T0 + offsetMs + latencyMs,
    latencyMs,
    status,
    error: status === 0 ? 'timeout' : null,
    instance,
    ticket: null,
    requestId: null,
    command: false,
  };
}

function fault(offsetMs: number, action: string, target: string): FaultRecord {
  return { plannedMs: offsetMs, at: T0 + offsetMs, action, target, ok: true, error: null };
}

function down(offsetMs: number, instance: string, to: Transition['to'] = 'down'): Transition {
  return {
    instance,
    service: serviceOf(instance),
    from: 'up',
    to,
    time: iso(T0 + offsetMs),
    firstMissAt: null,
    detectionMs: null,
    count: 3,
    reason: 'ECONNREFUSED',
  };
}

function runOf(parts: Partial<RunRecord>): RunRecord {
  return {
    experiment: 'e',
    variant: 'v',
    startedAt: T0,
    endedAt: T0 + 10_000,
    requests: [],
    faults: [],
    transitions: [],
    generator: { lagP50Ms: 0.1, lagP99Ms: 0.5, lagMaxMs: 2, starved: false, loopDelayP99Ms: null },
    commands: null,
    counters: {},
    ...parts,
  };
}

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 30 s run at 50 req/s over registration-1 and registration-2; registration-1 is killed at 10.25 s,
 * its share fails until 12.5 s and is then served by registration-2; 1 % random 500s, some 202s.
 */
function chaoticRun(): RunRecord {
  const next = random(42);
  const requests: RequestRecord[] = [];
  for (let i = 0; i < 1500; i++) {
    const offset = i * 20 + next() * 5;
    const target = i % 2 === 0 ? 'registration-1' : 'registration-2';
    const dead = target === 'registration-1' && offset >= 10_250;
    const status = dead && offset < 12_500 ? (next() < 0.5 ? 0 : 502) : next() < 0.01 ? 500 : next() < 0.02 ? 202 : 200;
    const instance = status === 0 || status === 502 ? null : dead ? 'registration-2' : target;
    requests.push(request(offset, 1 + next() * 300, status, instance));
  }
  return runOf({
    endedAt: T0 + 30_000,
    requests,
    faults: [fault(10_250, 'kill', 'registration-1'), fault(20_000, 'resume', 'registration-1')],
    transitions: [
      down(300, 'registration-1', 'up'),
      down(9000, 'registration-2', 'down'),
      down(10_400, 'registration-1', 'unknown'),
      down(10_750, 'registration-1'),
      down(11_000, 'registration-1'),
    ],
  });
}

test('availability overall and per window agree exactly with a plain count over the raw records', () => {
  const run = chaoticRun();
  const m = computeMetrics(run);

  // independent count: one pass, status ranges written out
  let ok = 0;
  const perSecond: Record<string, [number, number]> = {};
  for (const r of run.requests) {
    const good = r.status > 199 && r.status <= 399;
    if (good) ok += 1;
    const second = String(Math.trunc((r.scheduledAt - run.startedAt) / 1000));
    perSecond[second] ??= [0, 0];
    perSecond[second][0] += 1;
    if (good) perSecond[second][1] += 1;
  }
  assert.equal(m.requests, run.requests.length);
  assert.equal(m.successes, ok);
  assert.equal(m.availability.overall, ok / run.requests.length);
  assert.equal(m.windows.length, Object.keys(perSecond).length);
  let worst = 1;
  for (const w of m.windows) {
    const [n, good] = perSecond[String(w.t)]!;
    assert.equal(w.requests, n);
    assert.equal(w.successes, good);
    assert.equal(w.errors, n - good);
    assert.equal(w.availability, good / n);
    worst = Math.min(worst, good / n);
  }
  assert.equal(m.availability.worstWindow, worst);
  assert.ok(m.availability.worstWindow! < 0.8, 'the kill shows in the worst window');
});

test('detection agrees exactly with the first DOWN of the target at or after the fault', () => {
  const run = chaoticRun();
  const m = computeMetrics(run);
  // independent: scan the transitions in order of time, only kill/hang faults
  const expected: (number | null)[] = [];
  for (const f of run.faults) {
    if (f.action !== 'kill' && f.action !== 'hang') continue;
    const times = run.transitions
      .filter((t) => t.to === 'down' && t.instance === f.target)
      .map((t) => new Date(t.time).getTime() - f.at)
      .filter((d) => d >= 0)
      .sort((a, b) => a - b);
    expected.push(times.length > 0 ? times[0]! : null);
  }
  assert.deepEqual(
    m.faults.map((f) => f.detectionMs),
    expected,
  );
  assert.deepEqual(expected, [500]);
  assert.deepEqual(m.detection, { worstMs: 500, missing: 0, faults: 1 });

  // recovery, independently: the earliest arrival after the fault of a 2xx/3xx from registration-2
  const kill = run.faults[0]!;
  const arrivals = run.requests
    .filter((r) => r.status >= 200 && r.status < 400 && r.instance === 'registration-2' && r.endedAt > kill.at)
    .map((r) => r.endedAt);
  assert.equal(m.faults[0]!.recoveryMs, Math.min(...arrivals) - kill.at);
});

test('recovery: first success served by another instance of the same service, by arrival time', () => {
  const run = runOf({
    requests: [
      request(1000, 5, 200, 'registration-1'),
      request(2010, 100, 200, 'registration-1'), // the target itself (answered before it died): not a recovery
      request(2020, 5, 200, 'products-2'), // another service
      request(2030, 5, 503, 'registration-2'), // not a success
      request(2040, 80, 200, 'registration-spare-1'), // ends at 2120
      request(2050, 20, 202, 'registration-2'), // ends at 2070: the first by endedAt
    ],
    faults: [fault(2000, 'kill', 'registration-1')],
  });
  const m = computeMetrics(run);
  assert.equal(m.faults[0]!.recoveryMs, 70);
  assert.equal(m.faults[0]!.recoveryBasis, 'replacement');
  assert.equal(serviceOf('registration-spare-1'), 'registration');
  assert.equal(serviceOf('sales-queries-12'), 'sales-queries');
});

test('recovery falls back to the first success at all when no answer names its instance', () => {
  const run = runOf({
    requests: [request(1000, 5, 200), request(2010, 50, 0), request(2100, 30, 200), request(2050, 40, 200)],
    faults: [fault(2000, 'hang', 'registration-1')],
  });
  const m = computeMetrics(run);
  assert.equal(m.faults[0]!.recoveryMs, 90);
  assert.equal(m.faults[0]!.recoveryBasis, 'any-success');
  assert.equal(m.faults[0]!.detectionMs, null);
  assert.deepEqual(m.detection, { worstMs: null, missing: 1, faults: 1 });
});

test('windows: omitted when empty, throughput counted by arrival, p99 per window', () => {
  const run = runOf({
    requests: [
      request(100, 10, 200),
      request(900, 200, 200), // scheduled in window 0, arrives in window 1
      request(950, 10, 500),
      request(3100, 10, 200), // windows 1 and 2 have nothing scheduled → window 2 omitted
    ],
  });
  const m = computeMetrics(run);
  assert.deepEqual(
    m.windows.map((w) => [w.t, w.requests, w.successes, w.errors, w.availability, w.throughput]),
    [
      [0, 3, 2, 1, 2 / 3, 1],
      [3, 1, 1, 0, 1, 1],
    ],
  );
  assert.equal(m.windows[0]!.p99Ms, 200);
  assert.equal(m.availability.worstWindowT, 0);
  // the success arriving in window 1 counts nowhere: window 1 has no scheduled requests
});

test('steady: first window starting after the fault back at ≥ 90 % of the pre-fault median throughput', () => {
  const requests: RequestRecord[] = [];
  // 10 req/s for 5 s, then the fault at 5.5 s: 2 req/s in windows 5–7, 9 req/s from 8 s
  for (let second = 0; second < 12; second++) {
    const rate = second < 5 ? 10 : second < 8 ? 2 : 9;
    for (let i = 0; i < 10; i++) requests.push(request(second * 1000 + i * 100, 1, i < rate ? 200 : 503));
  }
  const run = runOf({ endedAt: T0 + 12_000, requests, faults: [fault(5500, 'kill', 'a-1')] });
  const m = computeMetrics(run);
  assert.equal(m.steadyBaseline, 10);
  assert.equal(m.faults[0]!.steadyMs, 9000 - 5500);

  const never = computeMetrics(
    runOf({ requests: requests.filter((r) => r.scheduledAt < T0 + 8000), faults: [fault(5500, 'kill', 'a-1')] }),
  );
  assert.equal(never.faults[0]!.steadyMs, null);
  assert.deepEqual(never.steady, { worstMs: null, missing: 1, faults: 1 });
});

test('latency percentiles over every request; generator, counters and commands passed through', () => {
  const requests = Array.from({ length: 1000 }, (_, i) => request(i, i + 1, 200));
  const commands = {
    accepted: 5,
    persisted: 5,
    unverified: 0,
    projected: 4,
    deadLettered: 0,
    lost: 0,
    duplicates: 0,
    lagP50Ms: 3,
    lagP99Ms: 9,
  };
  const run = runOf({ requests, commands, counters: { retries: 3 } });
  const m = computeMetrics(run);
  assert.equal(m.latencyMs.max, 1000);
  for (const [p, exact] of [
    ['p50', 500],
    ['p90', 900],
    ['p99', 990],
    ['p999', 999],
  ] as const) {
    const got = m.latencyMs[p]!;
    assert.ok(got >= exact && got <= exact * 1.008, `${p}: ${got} vs ${exact}`);
  }
  assert.deepEqual(m.generator, run.generator);
  assert.deepEqual(m.commands, commands);
  assert.deepEqual(m.counters, { retries: 3 });
  assert.match(m.latencyPrecision, /2 significant digits/);
  assert.equal(m.distribution.at(-1)!.ms, 1000);
});

test('an empty run: nothing measured, nothing thrown', () => {
  const m = computeMetrics(runOf({ faults: [fault(100, 'kill', 'a-1')] }));
  assert.equal(m.requests, 0);
  assert.deepEqual(m.availability, { overall: null, worstWindow: null, worstWindowT: null });
  assert.equal(m.latencyMs.p99, null);
  assert.equal(m.latencyMs.max, null);
  assert.deepEqual(m.windows, []);
  assert.deepEqual(m.distribution, []);
  assert.equal(m.steadyBaseline, null);
  assert.deepEqual(m.faults[0], {
    action: 'kill',
    target: 'a-1',
    ok: true,
    at: T0 + 100,
    offsetMs: 100,
    detectionMs: null,
    recoveryMs: null,
    recoveryBasis: 'any-success',
    steadyMs: null,
  });
});
