import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scheduleDurationMs, scheduleProblems, sendOffsets } from './schedule.ts';

test('constant uniform: exact count, evenly spaced from 0', () => {
  const offsets = sendOffsets({ rate: 200, durationMs: 1000 });
  assert.equal(offsets.length, 200);
  assert.equal(offsets[0], 0);
  assert.equal(offsets[1], 5);
  assert.equal(offsets.at(-1), 995);
});

test('a fractional product rounds up to every send that falls inside the duration', () => {
  assert.deepEqual([...sendOffsets({ rate: 3, durationMs: 500 })], [0, 1000 / 3]);
  assert.equal(sendOffsets({ rate: 0.1, durationMs: 10_000 }).length, 1);
  assert.equal(sendOffsets({ rate: 1000, durationMs: 3000 }).length, 3000);
});

test('stepped: each step from its own start, a rate-0 step is a pause', () => {
  const schedule = {
    steps: [
      { rate: 10, durationMs: 1000 },
      { rate: 0, durationMs: 500 },
      { rate: 20, durationMs: 500 },
    ],
  };
  const offsets = sendOffsets(schedule);
  assert.equal(offsets.length, 20);
  assert.equal(offsets[9], 900);
  assert.equal(offsets[10], 1500);
  assert.equal(offsets[11], 1550);
  assert.equal(scheduleDurationMs(schedule), 2000);
});

test('maxRequests caps the schedule', () => {
  assert.equal(sendOffsets({ rate: 100, durationMs: 10_000, maxRequests: 7 }).length, 7);
  assert.equal(sendOffsets({ rate: 100, durationMs: 10_000, maxRequests: 0, arrivals: 'poisson' }, 1).length, 0);
  assert.equal(sendOffsets({ rate: 100, durationMs: 10_000, maxRequests: 5, arrivals: 'poisson' }, 1).length, 5);
});

test('poisson: deterministic per seed, ascending, inside the steps, about the mean rate', () => {
  const schedule = { rate: 1000, durationMs: 20_000, arrivals: 'poisson' } as const;
  const a = sendOffsets(schedule, 42);
  assert.deepEqual(a, sendOffsets(schedule, 42));
  assert.notDeepEqual(a, sendOffsets(schedule, 43));
  for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!);
  assert.ok(a[0]! >= 0 && a.at(-1)! < 20_000);
  // 20 000 expected, standard deviation √20000 ≈ 141: 5 % is about 7σ.
  assert.ok(Math.abs(a.length - 20_000) < 1000, `${a.length} arrivals`);
  // Gaps exponential: their standard deviation is close to their mean (1 ms).
  const gaps = Array.from(a.subarray(1), (x, i) => x - a[i]!);
  const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / gaps.length);
  assert.ok(Math.abs(mean - 1) < 0.05 && Math.abs(sd - 1) < 0.1, `mean ${mean} sd ${sd}`);
});

test('every problem is reported at once; sendOffsets refuses an invalid schedule', () => {
  assert.deepEqual(scheduleProblems({ rate: -1, durationMs: 0, maxRequests: 1.5 }), [
    'rate must be a number ≥ 0 (req/s)',
    'durationMs must be > 0',
    'maxRequests must be an integer ≥ 0',
  ]);
  assert.deepEqual(scheduleProblems({ steps: [] }), ['steps must be a non-empty list']);
  assert.match(scheduleProblems({ steps: [{ rate: 1, durationMs: Number.NaN }] })[0]!, /^steps\[0\]\.durationMs/);
  assert.match(scheduleProblems({ rate: 1e6, durationMs: 3_600_000 })[0]!, /over the limit/);
  assert.throws(() => sendOffsets({ rate: 1, durationMs: 1000, arrivals: 'bursty' as 'uniform' }), /arrivals/);
});
