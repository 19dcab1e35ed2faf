import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceStatus } from '../../supervisor/run-file.ts';
import { formatStatus } from './status.ts';

const instance = (fields: Partial<InstanceStatus>): InstanceStatus => ({
  name: 'users-queries-1',
  service: 'users-queries',
  program: 'users-queries',
  role: 'query',
  pid: 4242,
  port: 40001,
  url: 'http://127.0.0.1:40001',
  state: 'running',
  restarts: 0,
  spare: false,
  health: 'up',
  ...fields,
});

test('status prints one aligned line per instance, spares marked, unknowns as -', () => {
  const text = formatStatus([
    instance({}),
    instance({ name: 'users-queries-spare-1', state: 'standby', pid: null, health: null, spare: true, port: 40002 }),
  ]);
  assert.equal(
    text,
    [
      'INSTANCE               STATE    HEALTH  PID   PORT   ROLE           RESTARTS',
      'users-queries-1        running  up      4242  40001  query          0',
      'users-queries-spare-1  standby  -       -     40002  query (spare)  0',
      '',
    ].join('\n'),
  );
});
