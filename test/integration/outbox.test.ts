// The outbox under real crashes: the users command process is SIGKILLed between its commit and the
// relay, and between the relay's bus append and its outbox update. Either way the event reaches the
// bus and the read model exactly once.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { createBus } from '../../src/bus/create-bus.ts';
import { createStore } from '../../src/store/create-store.ts';
import { call, startProgram } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const TOKEN = 'test-admin-token';

async function openBus(t: TestContext, dataDir: string) {
  const bus = await createBus(`sqlite:${dataDir}/bus.db`);
  t.after(() => bus.close());
  return bus;
}

async function pendingInOutbox(dataDir: string): Promise<number> {
  const store = await createStore(`sqlite:${dataDir}`, { name: 'users-commands' });
  try {
    const [row] = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE relayed_at IS NULL');
    return row!.n;
  } finally {
    await store.close();
  }
}

/** Reads the user back through a real users-queries process: it must be there exactly once. */
async function assertProjectedOnce(t: TestContext, dataDir: string, email: string, seq: number) {
  const queries = await startProgram(t, { program: 'users-queries', instance: 'users-queries-1', dataDir });
  const list = await call(`${queries.url}/api-queries/users?minSeq=${seq}`);
  assert.equal(list.status, 200);
  assert.equal(list.body.filter((u: { email: string }) => u.email === email).length, 1);
  assert.equal(list.body.length, 1);
}

describe('outbox survives SIGKILL of the command process', () => {
  test('between commit and relay: the event is relayed after restart, once', async (t) => {
    const dataDir = tmpDir(t);
    const paused = await startProgram(t, {
      program: 'users-commands',
      instance: 'users-commands-1',
      dataDir,
      env: { ARCHLAB_FAULTS: 'relay.paused' },
    });
    const created = await call(`${paused.url}/api-commands/users`, {
      body: { email: 'crash@example.com', password: 'pw' },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.seq, 1);
    const bus = await openBus(t, dataDir);
    assert.equal(await bus.head('users'), 0, 'committed but not relayed yet');
    assert.equal(await pendingInOutbox(dataDir), 1);

    paused.child.kill('SIGKILL');
    assert.equal((await within(paused.exited, 10_000, 'the killed process to exit')).signal, 'SIGKILL');

    await startProgram(t, { program: 'users-commands', instance: 'users-commands-1', dataDir });
    await waitFor(async () => (await bus.head('users')) === 1, { what: 'the relay to move the event' });
    const events = await bus.read('users', { after: 0 });
    assert.equal(events.length, 1);
    assert.equal((events[0]!.data as { email: string }).email, 'crash@example.com');
    await waitFor(async () => (await pendingInOutbox(dataDir)) === 0, { what: 'the outbox row to be marked' });
    await assertProjectedOnce(t, dataDir, 'crash@example.com', created.body.seq);
  });

  test('between bus append and outbox update: the re-append is idempotent', async (t) => {
    const dataDir = tmpDir(t);
    const first = await startProgram(t, {
      program: 'users-commands',
      instance: 'users-commands-1',
      dataDir,
      env: { ARCHLAB_FAULTS: 'relay.paused,relay.crash-after-append', ARCHLAB_ADMIN_TOKEN: TOKEN },
    });
    const created = await call(`${first.url}/api-commands/users`, {
      body: { email: 'twice@example.com', password: 'pw' },
    });
    assert.equal(created.status, 201);
    // Unpausing lets the relay append; the crash fault then kills the process before it marks the row.
    const unpause = await call(`${first.url}/_admin/faults/relay.paused`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(unpause.status, 200);
    assert.equal((await within(first.exited, 10_000, 'the crash fault to kill the process')).signal, 'SIGKILL');

    const bus = await openBus(t, dataDir);
    assert.equal(await bus.head('users'), 1, 'the append happened before the crash');
    assert.equal(await pendingInOutbox(dataDir), 1, 'the outbox row was not marked');

    await startProgram(t, { program: 'users-commands', instance: 'users-commands-1', dataDir });
    await waitFor(async () => (await pendingInOutbox(dataDir)) === 0, { what: 'the relay to finish' });
    assert.equal(await bus.head('users'), 1, 'no second copy on the bus');
    await assertProjectedOnce(t, dataDir, 'twice@example.com', created.body.seq);
  });
});
