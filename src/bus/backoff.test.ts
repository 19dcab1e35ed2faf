import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConsumeOptions, retryDelayMs } from './backoff.ts';

const exact = { baseMs: 100, capMs: 1000, jitter: 0 };

test('delay doubles per failed attempt up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, exact)),
    [100, 200, 400, 800, 1000, 1000],
  );
});

test('jitter spreads the delay by at most ±jitter', () => {
  const spread = { baseMs: 100, capMs: 1000, jitter: 0.5 };
  assert.equal(retryDelayMs(1, spread, 0), 50);
  assert.equal(retryDelayMs(1, spread, 0.5), 100);
  assert.equal(retryDelayMs(1, spread, 0.999_999), 150);
});

test('options get defaults and are checked', () => {
  const resolved = resolveConsumeOptions({ attempts: 2, backoff: { baseMs: 5 } });
  assert.equal(resolved.attempts, 2);
  assert.equal(resolved.concurrency, 1);
  assert.deepEqual(resolved.backoff, { baseMs: 5, capMs: 30_000, jitter: 0.2 });
  assert.throws(() => resolveConsumeOptions({ concurrency: 0 }), RangeError);
  assert.throws(() => resolveConsumeOptions({ backoff: { baseMs: 10, capMs: 5 } }), RangeError);
});
