import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromCents, toCents } from './money.ts';

test('values with up to two decimals become exact cents and come back unchanged', () => {
  for (const [value, cents] of [
    [0, 0],
    [12.5, 1250],
    [0.1, 10],
    [0.29, 29],
    [19.99, 1999],
    [1234567.89, 123456789],
  ] as const) {
    assert.equal(toCents(value), cents, String(value));
    assert.equal(fromCents(cents), value);
  }
});

test('negative, non-finite, over-long or too large values are refused', () => {
  for (const value of [-0.01, 12.345, 0.001, Number.NaN, Number.POSITIVE_INFINITY, 1e13]) {
    assert.equal(toCents(value), undefined, String(value));
  }
});
