import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceHealth, Transition } from '../monitor/types.ts';
import type { Redundancy, ServiceSpec } from '../topology/types.ts';
import { passiveActions, type RedundancyView } from './redundancy.ts';
import type { InstanceState } from './run-file.ts';

const MONITOR = { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 };

function view(
  redundancy: Redundancy,
  states: Record<string, InstanceState>,
  health: Record<string, InstanceHealth> = {},
): RedundancyView {
  const service: ServiceSpec = {
    name: 'users-queries',
    program: 'users-queries',
    kind: 'http',
    role: 'query',
    instances: 1,
    redundancy,
    monitor: MONITOR,
    env: {},
  };
  return {
    service,
    primaries: ['users-queries-1'],
    spares: ['users-queries-spare-1'],
    state: (name) => states[name],
    health: (name) => health[name] ?? null,
  };
}

const transition = (instance: string, to: InstanceHealth, from: InstanceHealth = 'up'): Transition => ({
  instance,
  service: 'users-queries',
  from,
  to,
  time: new Date().toISOString(),
  firstMissAt: null,
  detectionMs: null,
  count: 2,
  reason: 'test',
});

const cold: Redundancy = { type: 'passive', spares: 1, mode: 'cold' };
const warm: Redundancy = { type: 'passive', spares: 1, mode: 'warm' };

test('cold: a crashed primary going down starts the standby spare', () => {
  const actions = passiveActions(
    transition('users-queries-1', 'down'),
    view(cold, { 'users-queries-1': 'restarting', 'users-queries-spare-1': 'standby' }),
  );
  assert.deepEqual(
    actions.map((a) => [a.type, a.instance]),
    [['start', 'users-queries-spare-1']],
  );
});

test('a hung primary (alive, not answering) is killed so the restart loop brings it back', () => {
  const actions = passiveActions(
    transition('users-queries-1', 'down'),
    view(cold, { 'users-queries-1': 'hung', 'users-queries-spare-1': 'standby' }),
  );
  assert.deepEqual(
    actions.map((a) => [a.type, a.instance]),
    [
      ['kill', 'users-queries-1'],
      ['start', 'users-queries-spare-1'],
    ],
  );
});

test('a spare already running is not started twice', () => {
  const actions = passiveActions(
    transition('users-queries-1', 'down'),
    view(cold, { 'users-queries-1': 'held', 'users-queries-spare-1': 'starting' }),
  );
  assert.deepEqual(actions, []);
});

test('cold: the primary up again (caught up) stops the running spare; not while another primary is down', () => {
  const up = transition('users-queries-1', 'up', 'down');
  const running = { 'users-queries-1': 'running', 'users-queries-spare-1': 'running' } as const;
  assert.deepEqual(
    passiveActions(up, view(cold, running, { 'users-queries-1': 'up' })).map((a) => [a.type, a.instance]),
    [['stop', 'users-queries-spare-1']],
  );
  const two = { ...view(cold, running, { 'users-queries-1': 'up', 'users-queries-2': 'down' }) };
  assert.deepEqual(passiveActions(up, { ...two, primaries: ['users-queries-1', 'users-queries-2'] }), []);
});

test('warm: the spare runs all along, nothing to start or stop; other tactics and spares are ignored', () => {
  const states = { 'users-queries-1': 'restarting', 'users-queries-spare-1': 'running' } as const;
  assert.deepEqual(passiveActions(transition('users-queries-1', 'down'), view(warm, states)), []);
  assert.deepEqual(
    passiveActions(transition('users-queries-1', 'up', 'down'), view(warm, states, { 'users-queries-1': 'up' })),
    [],
  );
  assert.deepEqual(
    passiveActions(transition('users-queries-1', 'down'), view({ type: 'active', policy: 'primary-backup' }, states)),
    [],
  );
  assert.deepEqual(passiveActions(transition('users-queries-spare-1', 'down'), view(cold, states)), []);
});
