import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../kit/errors.ts';
import { allFlagsSet, parseFailureFlags, parseFlag } from './flags.ts';

test('parseFlag: real booleans — "False", "0", empty and absence are false (the seed read "False" as true)', () => {
  for (const value of [undefined, null, false, 0, '', 'false', 'False', 'FALSE', '0', 'no', 'off', ' false ']) {
    assert.equal(parseFlag('simulate_failure', value), false, `${JSON.stringify(value)} is false`);
  }
  for (const value of [true, 1, 'true', 'True', '1', 'yes', 'on']) {
    assert.equal(parseFlag('simulate_failure', value), true, `${JSON.stringify(value)} is true`);
  }
});

test('parseFlag: anything else is a 400 invalid_failure_flag naming the field, not a guess', () => {
  for (const value of ['maybe', 'Falsey', 2, -1, 0.5, [], {}, ['true'], 'truee']) {
    assert.throws(
      () => parseFlag('simulate_failure_r1', value),
      (error) =>
        isAppError(error) &&
        error.status === 400 &&
        error.code === 'invalid_failure_flag' &&
        /simulate_failure_r1/.test(error.message),
      JSON.stringify(value),
    );
  }
});

test('parseFailureFlags reads the seed field names; allFlagsSet only when all three are', () => {
  const flags = parseFailureFlags({ simulate_failure: 'True', simulate_failure_r1: 1, simulate_failure_r2: 'False' });
  assert.deepEqual(flags, { principal: true, redundancy1: true, redundancy2: false });
  assert.equal(allFlagsSet(flags), false);
  assert.equal(
    allFlagsSet(parseFailureFlags({ simulate_failure: true, simulate_failure_r1: 'yes', simulate_failure_r2: '1' })),
    true,
  );
  assert.deepEqual(parseFailureFlags({}), { principal: false, redundancy1: false, redundancy2: false });
});
