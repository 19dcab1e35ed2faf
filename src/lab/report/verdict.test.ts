import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunRecord } from '../types.ts';
import { computeMetrics, type VariantMetrics } from './metrics.ts';
import { judge } from './verdict.ts';

function metrics(overrides: Partial<VariantMetrics> = {}): VariantMetrics {
  const run: RunRecord = {
    experiment: 'e',
    variant: 'v',
    startedAt: 0,
    endedAt: 1000,
    requests: [],
    faults: [],
    transitions: [],
    generator: { lagP50Ms: 0, lagP99Ms: 0, lagMaxMs: 0, starved: false, loopDelayP99Ms: null },
    commands: null,
    counters: {},
  };
  return { ...computeMetrics(run), ...overrides };
}

const worst = (worstMs: number | null, missing = 0, faults = 1) => ({ worstMs, missing, faults });

test('one line per field present, in a fixed order, holding or failing on the raw figures', () => {
  const m = metrics({
    requests: 2000,
    successes: 1999,
    availability: { overall: 0.9995, worstWindow: 0.98, worstWindowT: 21 },
    latencyMs: { count: 2000, p50: 4, p90: 9, p99: 250.4, p999: 400, max: 900 },
    detection: worst(350),
    recovery: worst(1200),
    commands: {
      accepted: 10,
      persisted: 10,
      unverified: 0,
      projected: 10,
      deadLettered: 0,
      lost: 0,
      duplicates: 1,
      lagP50Ms: 5,
      lagP99Ms: 80,
    },
  });
  const lines = judge(m, {
    availability: { overall: 0.999, worstWindow: 0.99 },
    latencyMs: { p50: 5, p99: 250, max: 1000 },
    lostCommands: 0,
    detectionMs: 500,
    recoveryMs: 1000,
    commandToQueryLagMs: 100,
  });
  assert.deepEqual(
    lines.map((l) => [l.line, l.holds]),
    [
      ['availability.overall', true],
      ['availability.worstWindow', false],
      ['latencyMs.p50', true],
      ['latencyMs.p99', false],
      ['latencyMs.max', true],
      ['lostCommands', true],
      ['detectionMs', true],
      ['recoveryMs', false],
      ['commandToQueryLagMs', true],
    ],
  );
  assert.deepEqual(lines[0], {
    line: 'availability.overall',
    holds: true,
    measured: '99.950 % (1999/2000)',
    threshold: '≥ 99.900 %',
  });
  assert.equal(lines[1]!.measured, '98.000 % (window at 21 s)');
  assert.deepEqual(lines[3], { line: 'latencyMs.p99', holds: false, measured: '250.4 ms', threshold: '≤ 250 ms' });
  assert.deepEqual(judge(m, {}), []);
});

test('a figure that was not measured fails its line', () => {
  const lines = judge(metrics(), {
    availability: { overall: 0.5 },
    latencyMs: { p90: 10 },
    lostCommands: 0,
    detectionMs: 500,
    commandToQueryLagMs: 100,
  });
  assert.ok(lines.every((l) => !l.holds));
  assert.ok(
    lines.every((l) => l.measured.startsWith('not measured')),
    JSON.stringify(lines),
  );
});

test('a kill/hang fault without detection or recovery fails the line even when the others are fast', () => {
  const m = metrics({ detection: worst(100, 1, 2), recovery: worst(null, 1, 1) });
  const [detection, recovery] = judge(m, { detectionMs: 500, recoveryMs: 500 });
  assert.deepEqual(detection, {
    line: 'detectionMs',
    holds: false,
    measured: '100 ms; 1 of 2 faults not detected',
    threshold: '≤ 500 ms',
  });
  assert.deepEqual(recovery, {
    line: 'recoveryMs',
    holds: false,
    measured: '1 of 1 faults not recovered',
    threshold: '≤ 500 ms',
  });
});

test('thresholds are inclusive', () => {
  const m = metrics({
    availability: { overall: 0.99, worstWindow: 0.5, worstWindowT: 0 },
    latencyMs: { count: 1, p50: 10, p90: 10, p99: 10, p999: 10, max: 10 },
  });
  const lines = judge(m, { availability: { overall: 0.99, worstWindow: 0.5 }, latencyMs: { max: 10 } });
  assert.ok(lines.every((l) => l.holds));
});
