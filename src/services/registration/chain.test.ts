import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError } from '../../kit/errors.ts';
import { CHAIN, expectedRegistrar, failureKey, isRegistrationJob, Queues, registrationJobId } from './chain.ts';
import { loadRegistrationConfig, REGISTRATION_DEFAULTS } from './config.ts';
import type { FailureFlags } from './flags.ts';

const combos: FailureFlags[] = [0, 1, 2, 3, 4, 5, 6, 7].map((n) => ({
  principal: (n & 1) !== 0,
  redundancy1: (n & 2) !== 0,
  redundancy2: (n & 4) !== 0,
}));

test('the chain: principal → redundancy1 → redundancy2 → failure log', () => {
  assert.deepEqual(
    CHAIN.map(({ queue, next }) => [queue, next]),
    [
      [Queues.PRINCIPAL, Queues.REDUNDANCY1],
      [Queues.REDUNDANCY1, Queues.REDUNDANCY2],
      [Queues.REDUNDANCY2, Queues.FAILURES],
    ],
  );
});

test('expectedRegistrar: the first stage whose flag is unset, else the failure replay', () => {
  const expected = combos.map(expectedRegistrar);
  assert.deepEqual(expected, [
    'principal',
    'redundancy1',
    'principal',
    'redundancy2',
    'principal',
    'redundancy1',
    'principal',
    'failure-replay',
  ]);
});

test('registrationJobId: same email (any case) and uuid → same job; another uuid → another job', () => {
  const a = registrationJobId('ada@example.com', null);
  assert.match(a, /^reg-[0-9a-f]{32}$/);
  assert.equal(registrationJobId('ada@example.com', null), a);
  assert.notEqual(registrationJobId('ada@example.com', 'u-1'), a);
  assert.equal(registrationJobId('ada@example.com', 'u-1'), registrationJobId('ada@example.com', 'u-1'));
  assert.notEqual(registrationJobId('bob@example.com', 'u-1'), registrationJobId('ada@example.com', 'u-1'));
  // No ambiguity from joining the parts.
  assert.notEqual(registrationJobId('a', 'b|c'), registrationJobId('a|b', 'c'));
  assert.equal(failureKey('reg-1', 'u-1'), 'uuid:u-1');
  assert.equal(failureKey('reg-1', null), 'job:reg-1');
});

test('isRegistrationJob refuses malformed payloads', () => {
  const job = { email: 'a@example.com', flags: combos[0], failureUuid: null, receivedAt: 1 };
  assert.equal(isRegistrationJob(job), true);
  assert.equal(isRegistrationJob({ ...job, flags: { principal: true } }), false);
  assert.equal(isRegistrationJob({ ...job, email: 7 }), false);
  assert.equal(isRegistrationJob(null), false);
});

test('loadRegistrationConfig: defaults, overrides, every problem at once', () => {
  assert.deepEqual(loadRegistrationConfig({}), REGISTRATION_DEFAULTS);
  const config = loadRegistrationConfig({ REGISTRATION_REPLAY_DELAY_MS: '200', REGISTRATION_LEASE_MS: ' 1000 ' });
  assert.equal(config.replayDelayMs, 200);
  assert.equal(config.leaseMs, 1000);
  assert.ok(Object.isFrozen(config));
  assert.throws(
    () =>
      loadRegistrationConfig({
        REGISTRATION_LEASE_MS: '5',
        REGISTRATION_CONCURRENCY: 'two',
        REGISTRATION_REPLAY_BACKOFF_CAP_MS: '10',
      }),
    (error) =>
      isAppError(error) &&
      error.code === 'config_invalid' &&
      (error.details?.problems as string[] | undefined)?.length === 3,
  );
});
