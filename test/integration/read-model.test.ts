// A read model rebuilt from zero, from the event stream alone, equals the one a live query process built.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createBus } from '../../src/bus/create-bus.ts';
import { projectorMigrations, startProjector } from '../../src/kit/projector.ts';
import { applyUserEvent } from '../../src/services/users/projection.ts';
import { createStore } from '../../src/store/create-store.ts';
import { loadMigrations } from '../../src/store/migrations.ts';
import { silentLogger } from '../helpers/log.ts';
import { call, startProgram } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const ROWS = 'SELECT id, seq, email, email_key, username, name, registered_by, registered_at FROM users ORDER BY seq';

test('users read model: rebuilt from zero equals the live one', async (t) => {
  const dataDir = tmpDir(t);
  const commands = await startProgram(t, { program: 'users-commands', instance: 'users-commands-1', dataDir });
  const queries = await startProgram(t, { program: 'users-queries', instance: 'users-queries-1', dataDir });
  let lastSeq = 0;
  for (let i = 0; i < 25; i++) {
    const res = await call(`${commands.url}/api-commands/users`, {
      body: {
        email: `r${i}-${randomUUID().slice(0, 6)}@example.com`,
        password: 'pw',
        ...(i % 3 ? { name: `N${i}` } : {}),
      },
    });
    assert.equal(res.status, 201);
    lastSeq = res.body.seq;
  }
  assert.equal((await call(`${queries.url}/api-queries/users?minSeq=${lastSeq}`)).status, 200);
  queries.child.kill('SIGTERM');
  await within(queries.exited, 10_000, 'users-queries to stop');

  const live = await createStore(`sqlite:${dataDir}`, { name: 'users-queries-1' });
  t.after(() => live.close());
  const rebuilt = await createStore('sqlite::memory:', { name: 'rebuilt' });
  t.after(() => rebuilt.close());
  await rebuilt.migrate([
    ...projectorMigrations,
    ...loadMigrations(new URL('../../src/services/users/migrations/queries/', import.meta.url)),
  ]);
  const bus = await createBus(`sqlite:${dataDir}/bus.db`);
  t.after(() => bus.close());
  const projector = await startProjector({
    name: 'users',
    stream: 'users',
    bus,
    store: rebuilt,
    log: silentLogger(),
    apply: applyUserEvent,
  });
  t.after(() => projector.close());
  await waitFor(() => projector.ready() && projector.position() === lastSeq, { what: 'the rebuild to reach the head' });

  const liveRows = await live.query(ROWS);
  assert.equal(liveRows.length, 25);
  assert.deepEqual(await rebuilt.query(ROWS), liveRows);
});
