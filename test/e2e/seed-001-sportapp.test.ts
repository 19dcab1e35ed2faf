// Seed 001 (SportApp): registration CQRS with a passive fallback and a monitor that restarts the
// dead primary. Its routes and messages through the gateway; its fault (an invalid email kills the
// command instance) with the poison request NOT replayed to the spare; none of its bugs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createStore } from '../../src/store/create-store.ts';
import type { InstanceStatus } from '../../src/supervisor/run-file.ts';
import { CLI, call, type RunningSystem, startSystem } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);

async function status(system: RunningSystem): Promise<InstanceStatus[]> {
  const { stdout } = await run(process.execPath, [CLI, 'status', '--json', '--data', system.dataDir]);
  return JSON.parse(stdout) as InstanceStatus[];
}

test('seed 001: register, duplicate, check_user; the poison email kills one instance only; no plaintext anywhere', async (t) => {
  const dir = tmpDir(t, 'archlab-topology-');
  const file = path.join(dir, 'archlab.yaml');
  writeFileSync(
    file,
    `monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  users-commands:
    redundancy: { passive: { spares: 1, mode: warm } }
    env: { ARCHLAB_FAULTS: users.crash-on-invalid-email }
  users-queries: {}
routes:
  - { prefix: /user-commands/users, service: users-commands }
  - { prefix: /user-queries/users, service: users-queries, idempotent: true }
`,
  );
  const system = await startSystem(t, { topology: file });
  const correo = `deportista-${process.pid}@example.com`;

  const registered = await call(`${system.gateway}/user-commands/users/register`, {
    body: { correo, clave: 'secreta-123' },
  });
  assert.equal(registered.status, 201);
  assert.equal(registered.body.message, 'Usuario registrado exitosamente');
  assert.ok(!JSON.stringify(registered.body).includes('secreta-123'), 'the password is never returned');

  // Their check-then-insert race: 20 concurrent registrations of one email, exactly one wins.
  const twin = `gemelo-${process.pid}@example.com`;
  const race = await Promise.all(
    Array.from({ length: 20 }, () =>
      call(`${system.gateway}/user-commands/users/register`, { body: { correo: twin, clave: 'x' } }),
    ),
  );
  assert.equal(race.filter((r) => r.status === 201).length, 1);
  for (const loser of race.filter((r) => r.status !== 201)) {
    assert.equal(loser.status, 409);
    assert.deepEqual(loser.body, { error: { code: 'email_taken', message: 'No se puede registrar el usuario' } });
  }

  const seq = Math.max(registered.body.seq, ...race.filter((r) => r.status === 201).map((r) => r.body.seq));
  await waitFor(async () => (await call(`${system.gateway}/api-queries/users?minSeq=${seq}`)).status !== 504);
  const taken = await waitFor(async () => {
    const res = await call(`${system.gateway}/user-queries/users/check_user`, { body: { correo } });
    return res.body?.can_register === false ? res : undefined;
  });
  assert.deepEqual(taken.body, { can_register: false, message: 'El usuario ya existe' });
  const free = await call(`${system.gateway}/user-queries/users/check_user`, {
    body: { correo: `nadie-${process.pid}@example.com` },
  });
  assert.deepEqual(free.body, { can_register: true, message: 'El usuario puede ser registrado' });
  const bad = await call(`${system.gateway}/user-queries/users/check_user`, { body: {} });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'validation_failed');

  // The seed's fault: an invalid email kills the instance that receives it. The gateway does not
  // replay that request to the spare (the seed's spare died of it too).
  const before = await status(system);
  const primaryPid = before.find((i) => i.name === 'users-commands-1')!.pid;
  const sparePid = before.find((i) => i.name === 'users-commands-spare-1')!.pid;
  assert.ok(primaryPid !== null && sparePid !== null, 'primary and warm spare run');
  const poison = await call(`${system.gateway}/user-commands/users/register`, {
    body: { correo: 'esto-no-es-un-correo', clave: 'x' },
  });
  assert.equal(poison.status, 502);
  assert.equal(poison.body.error.code, 'upstream_unreachable');
  const after = await waitFor(async () => {
    const list = await status(system);
    return list.find((i) => i.name === 'users-commands-1')!.restarts > 0 ? list : undefined;
  });
  assert.equal(after.find((i) => i.name === 'users-commands-spare-1')!.pid, sparePid, 'the spare never saw it');

  // Registrations go on (spare or restarted primary), and the restart shows in the seed's log words.
  const next = await waitFor(async () => {
    const res = await call(`${system.gateway}/user-commands/users/register`, {
      body: { correo: `despues-${process.pid}@example.com`, clave: 'x' },
    });
    return res.status === 201 ? res : undefined;
  });
  assert.equal(next.body.message, 'Usuario registrado exitosamente');
  const text = await waitFor(() => {
    const log = readFileSync(path.join(system.dataDir, 'logs', 'supervisor.txt'), 'utf8');
    return log.includes('Ejecutandose correctamente users-commands-1') ? log : undefined;
  });
  assert.match(text, /Reiniciando users-commands-1/);

  // Passwords only as salted scrypt hashes.
  const store = await createStore(`sqlite:${system.dataDir}`, { name: 'users-commands' });
  t.after(() => store.close());
  const rows = await store.query<{ password_hash: string }>('SELECT password_hash FROM users');
  assert.ok(rows.length >= 3);
  for (const row of rows) assert.match(row.password_hash, /^scrypt\$/);
});
