import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lockstepChild } from '../../test/helpers/child.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import { busContract } from './bus.contract.ts';
import type { Bus, StreamEvent } from './bus.ts';
import { createBus } from './create-bus.ts';
import { BusErrors } from './errors.ts';
import { queueContract } from './queue.contract.ts';
import { openSqliteBus, type SqliteBusOptions } from './sqlite/bus.ts';

busContract('sqlite', (t) => {
  const file = path.join(tmpDir(t), 'bus.db');
  return () => createBus(`sqlite:${file}`);
});

queueContract('sqlite', (t) => {
  const url = `sqlite:${path.join(tmpDir(t), 'bus.db')}`;
  return { open: () => createBus(url), url };
});

const fixture = fileURLToPath(new URL('./fixtures/append-events.ts', import.meta.url));

/** A child process that appends `count` events once told to go. */
function appender(t: TestContext, file: string, prefix: string, count: number) {
  return lockstepChild(t, [fixture, file, 's', prefix, String(count)], { what: `${prefix} to open the bus` });
}

/** A fresh directory with a default bus file; every bus opened through it is closed before the directory goes. */
function workspace(t: TestContext) {
  const buses: Bus[] = [];
  t.after(() => Promise.all(buses.map((bus) => bus.close())));
  const dir = tmpDir(t);
  const file = path.join(dir, 'bus.db');
  const track = (bus: Bus) => {
    buses.push(bus);
    return bus;
  };
  const open = (options?: SqliteBusOptions, at = file) => track(openSqliteBus(at, options));
  return { dir, file, open, track };
}

it('two processes appending to one file get unique, gap-free seqs', async (t) => {
  const { file, open } = workspace(t);
  const count = 300;
  const children = [appender(t, file, 'one', count), appender(t, file, 'two', count)];
  await Promise.all(children.map((child) => child.ready()));
  for (const child of children) child.go();
  assert.deepEqual(await Promise.all(children.map((child) => child.exited)), [0, 0]);

  const events = await open().read('s');
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: 2 * count }, (_, i) => i + 1),
  );
  const ids = new Set(events.map((e) => e.id));
  assert.equal(ids.size, 2 * count);
  for (const prefix of ['one', 'two']) {
    const own = events.filter((e) => e.id.startsWith(`${prefix}-`)).map((e) => (e.data as { i: number }).i);
    // Each child appends one call at a time, so its own events keep their order.
    assert.deepEqual(
      own,
      Array.from({ length: count }, (_, i) => i),
    );
  }
});

it('a subscriber sees events another process appends', async (t) => {
  const { file, open } = workspace(t);
  const bus = open();
  const seen: StreamEvent[] = [];
  bus.subscribe('s', { after: 0 }, async (events) => {
    seen.push(...events);
  });
  const child = appender(t, file, 'child', 20);
  await child.ready();
  child.go();
  assert.equal(await child.exited, 0);
  await waitFor(() => seen.length >= 20, { what: 'the child process events' });
  assert.deepEqual(
    seen.map((e) => [e.seq, e.id]),
    Array.from({ length: 20 }, (_, i) => [i + 1, `child-${i}`]),
  );
});

it('a local append wakes a caught-up subscriber without waiting for the poll', async (t) => {
  // A poll interval far beyond waitFor's deadline: only the in-process wake-up can deliver in time.
  const bus = workspace(t).open({ pollIntervalMs: 600_000 });
  const seen: number[] = [];
  bus.subscribe('s', { after: 0 }, async (events) => {
    seen.push(...events.map((e) => e.seq));
  });
  await bus.append('s', [{ id: '1', type: 'thing.happened', data: null }]);
  await waitFor(() => seen.length === 1, { what: 'the first event' });
  await bus.append('s', [{ id: '2', type: 'thing.happened', data: null }]);
  await waitFor(() => seen.length === 2, { what: 'the second event', timeoutMs: 5000 });
  assert.deepEqual(seen, [1, 2]);
});

it('handler errors go to onError, and delivery continues once the handler succeeds', async (t) => {
  const errors: unknown[] = [];
  const bus = workspace(t).open({ onError: (error) => errors.push(error) });
  const failure = new Error('read model unavailable');
  let calls = 0;
  // Neither `after` nor `consumer`: delivery starts at the beginning.
  bus.subscribe('s', {}, async () => {
    calls += 1;
    if (calls === 1) throw failure;
  });
  await bus.append('s', [{ id: '1', type: 'thing.happened', data: null }]);
  await waitFor(() => calls === 2, { what: 'the retry' });
  assert.deepEqual(errors, [failure]);
});

it('uses WAL and creates the missing parent directory', async (t) => {
  const { dir, open } = workspace(t);
  const file = path.join(dir, 'not', 'there', 'bus.db');
  await open({}, file).append('s', [{ id: '1', type: 'thing.happened', data: 1 }]);
  assert.ok(existsSync(file));
  const raw = new DatabaseSync(file, { readOnly: true });
  try {
    assert.equal(raw.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
  } finally {
    raw.close();
  }
});

it('createBus opens sqlite files by relative, absolute and sqlite:/// paths, and private memory buses', async (t) => {
  const { dir, track } = workspace(t);
  const absolute = path.join(dir, 'bus.db');
  const urls = [`sqlite:${path.relative(process.cwd(), absolute)}`, `sqlite:${absolute}`, `sqlite://${absolute}`];
  for (const [i, url] of urls.entries()) {
    const bus = track(await createBus(url));
    assert.deepEqual(await bus.append('s', [{ id: url, type: 'thing.happened', data: null }]), [i + 1], url);
  }
  const memory = [track(await createBus('sqlite::memory:')), track(await createBus('sqlite::memory:'))];
  await memory[0]!.append('s', [{ id: '1', type: 'thing.happened', data: null }]);
  assert.equal(await memory[0]!.head('s'), 1);
  assert.equal(await memory[1]!.head('s'), 0);
});

it('createBus rejects unsupported URLs with BAD_URL and never echoes a password', async () => {
  for (const url of ['', 'bus.db', 'sqlite:', 'sqlite://bus.db', 'postgres://x/y', 'amqp://:s3cret@host:5672']) {
    await assert.rejects(createBus(url), (error: Error & { code?: string }) => {
      assert.equal(error.code, BusErrors.BAD_URL, url);
      assert.ok(!error.message.includes('s3cret'), error.message);
      return true;
    });
  }
});
