// Seed 001's crash trigger as an opt-in fault: with users.crash-on-invalid-email on, a registration
// with an invalid email makes users-commands exit; without it, the same request is a 400.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, startProgram } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { within } from '../helpers/wait-for.ts';

const INVALID = { email: 'not-an-email', password: 'pw' };

test('off (the default): an invalid email is a 400 and the process lives on', async (t) => {
  const program = await startProgram(t, {
    program: 'users-commands',
    instance: 'users-commands-1',
    dataDir: tmpDir(t),
  });
  const res = await call(`${program.url}/api-commands/users`, { body: INVALID });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'invalid_email');
  assert.equal((await call(`${program.url}/health`)).status, 200);
});

test('on: an invalid email makes users-commands exit (code 70), a valid one still registers', async (t) => {
  const program = await startProgram(t, {
    program: 'users-commands',
    instance: 'users-commands-1',
    dataDir: tmpDir(t),
    env: { ARCHLAB_FAULTS: 'users.crash-on-invalid-email' },
  });
  const ok = await call(`${program.url}/api-commands/users`, { body: { email: 'a@example.com', password: 'pw' } });
  assert.equal(ok.status, 201);
  await assert.rejects(call(`${program.url}/api-commands/users`, { body: INVALID }));
  const exit = await within(program.exited, 10_000, 'users-commands to exit');
  assert.deepEqual(exit, { code: 70, signal: null });
});
