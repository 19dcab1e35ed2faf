import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHistogram, RELATIVE_ERROR } from './histogram.ts';

/** Nearest-rank percentile over a sorted copy: the exact figure the histogram approximates. */
function exact(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** A deterministic pseudo-random sequence (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];

test('percentiles are never below the exact ones and at most 1/128 (+1 µs) above, over many shapes', () => {
  const next = random(7);
  const shapes: Record<string, () => number> = {
    uniform: () => next() * 500,
    'long tail': () => 0.2 / (1 - next() * 0.9999),
    'sub-millisecond': () => next() * 0.3,
    bimodal: () => (next() < 0.98 ? 2 + next() : 3000 + next() * 1000),
  };
  for (const [name, draw] of Object.entries(shapes)) {
    const values = Array.from({ length: 20_000 }, draw);
    const histogram = createHistogram();
    for (const v of values) histogram.record(v);
    assert.equal(histogram.count, values.length);
    for (const p of PERCENTILES) {
      const want = exact(values, p);
      const got = histogram.percentile(p);
      assert.ok(got >= want - 0.0005, `${name} p${p}: ${got} < exact ${want}`);
      assert.ok(got <= want * (1 + RELATIVE_ERROR) + 0.001, `${name} p${p}: ${got} too far above exact ${want}`);
    }
    assert.equal(histogram.maxMs, Math.max(...values), `${name}: max is exact`);
    assert.equal(histogram.percentile(100), histogram.maxMs);
  }
});

test('small integer-µs values are exact; empty answers 0; negative and NaN count as 0', () => {
  const histogram = createHistogram();
  assert.equal(histogram.percentile(50), 0);
  assert.equal(histogram.maxMs, 0);
  for (const v of [0.001, 0.002, 0.003, 0.1, 0.25]) histogram.record(v);
  assert.equal(histogram.percentile(20), 0.001);
  assert.equal(histogram.percentile(60), 0.003);
  assert.equal(histogram.percentile(80), 0.1);
  histogram.record(-5);
  histogram.record(Number.NaN);
  assert.equal(histogram.count, 7);
  assert.equal(histogram.percentile(0), 0);
});

test('a constant value is reported within precision at every percentile', () => {
  const histogram = createHistogram();
  for (let i = 0; i < 1000; i++) histogram.record(123.456);
  for (const p of PERCENTILES) assert.equal(histogram.percentile(p), 123.456);
});
