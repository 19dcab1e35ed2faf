import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../kit/errors.ts';
import { ORDERS_DEFAULTS, ordersConfig } from './config.ts';

test('defaults without environment; ARCHLAB_ORDERS_* overrides field by field', () => {
  assert.deepEqual(ordersConfig({}), ORDERS_DEFAULTS);
  const config = ordersConfig({ ARCHLAB_ORDERS_LEASE_MS: '1000', ARCHLAB_ORDERS_CONCURRENCY: '2' });
  assert.equal(config.leaseMs, 1000);
  assert.equal(config.concurrency, 2);
  assert.equal(config.attempts, ORDERS_DEFAULTS.attempts);
  assert.ok(Object.isFrozen(config));
});

test('every bad setting is reported at once', () => {
  assert.throws(
    () =>
      ordersConfig({
        ARCHLAB_ORDERS_LEASE_MS: '0',
        ARCHLAB_ORDERS_ATTEMPTS: 'many',
        ARCHLAB_ORDERS_TRY_TIMEOUT_MS: '9000',
      }),
    (error) => {
      assert.ok(isAppError(error));
      assert.equal(error.code, 'config_invalid');
      const problems = error.details?.problems as string[];
      assert.equal(problems.length, 3);
      for (const name of ['ARCHLAB_ORDERS_LEASE_MS', 'ARCHLAB_ORDERS_ATTEMPTS', 'ARCHLAB_ORDERS_TRY_TIMEOUT_MS']) {
        assert.ok(
          problems.some((problem) => problem.startsWith(name)),
          name,
        );
      }
      return true;
    },
  );
});
