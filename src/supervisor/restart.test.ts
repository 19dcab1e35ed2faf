import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RESTART, failuresAfterExit, restartDelayMs } from './restart.ts';

test('the first failure restarts at once, then the delay doubles up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => restartDelayMs(n)),
    [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000],
  );
});

test('a run longer than stableMs resets the failure count', () => {
  assert.equal(failuresAfterExit(6, DEFAULT_RESTART.stableMs), 1);
  assert.equal(failuresAfterExit(6, DEFAULT_RESTART.stableMs - 1), 7);
  assert.equal(failuresAfterExit(0, 5), 1);
});
