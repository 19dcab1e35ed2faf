import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it, type TestContext } from 'node:test';
import { lockstepChild } from '../../test/helpers/child.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createStore } from './create-store.ts';
import { StoreErrors } from './errors.ts';
import { toSqliteParams } from './sqlite.ts';
import { storeContract } from './store.contract.ts';
import type { Migration, Store } from './store.ts';

storeContract('sqlite', (t) => {
  const dir = tmpDir(t);
  return (name) => createStore(`sqlite:${dir}`, { name });
});

async function open(t: TestContext, url: string, name = 'main'): Promise<Store> {
  const store = await createStore(url, { name });
  t.after(() => store.close());
  return store;
}

const migrations: Migration[] = [
  { id: '001-counter', sql: '-- a counter\nCREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);' },
  { id: '002-first-row', sql: '-- its row\nINSERT INTO counter (id, n) VALUES (1, 0);' },
];

const createStoreUrl = new URL('./create-store.ts', import.meta.url).href;

// Migrates then increments the counter `COUNT` times, each in its own transaction, once told to go.
const CHILD = `
import { createStore } from ${JSON.stringify(createStoreUrl)};
const store = await createStore('sqlite:' + process.env.STORE_DIR, { name: 'shared' });
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const applied = await store.migrate(JSON.parse(process.env.MIGRATIONS));
for (let i = 0; i < Number(process.env.COUNT); i++) {
  await store.transaction((tx) => tx.execute('UPDATE counter SET n = n + 1 WHERE id = 1'));
}
await store.close();
process.stdout.write('applied ' + applied + '\\n');
`;

function incrementer(t: TestContext, dir: string, count: number) {
  const child = lockstepChild(t, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, STORE_DIR: dir, COUNT: String(count), MIGRATIONS: JSON.stringify(migrations) },
    what: 'the child to open the store',
  });
  return {
    ready: child.ready,
    go: child.go,
    result: async () => {
      assert.equal(await child.exited, 0);
      return Number(/applied (\d+)/.exec(child.output())?.[1]);
    },
  };
}

describe('sqlite store', () => {
  it('keeps store <name> in <dir>/<name>.db, in WAL mode, and its data survives reopening', async (t) => {
    const dir = path.join(tmpDir(t), 'nested', 'data');
    const first = await createStore(`sqlite:${dir}`, { name: 'users' });
    await first.migrate(migrations);
    await first.execute('UPDATE counter SET n = 42');
    await first.close();

    const file = path.join(dir, 'users.db');
    assert.ok(existsSync(file), `${file} exists`);
    const raw = new DatabaseSync(file);
    t.after(() => raw.close());
    assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');

    const again = await open(t, `sqlite:${dir}`, 'users');
    assert.deepEqual(await again.query('SELECT n FROM counter'), [{ n: 42 }]);
    assert.equal(await again.migrate(migrations), 0);
  });

  it('another connection on the file reads committed writes while the store stays open', async (t) => {
    const dir = tmpDir(t);
    const store = await open(t, `sqlite:${dir}`);
    await store.migrate(migrations);
    const raw = new DatabaseSync(path.join(dir, 'main.db'));
    t.after(() => raw.close());
    await store.transaction((tx) => tx.execute('UPDATE counter SET n = 7'));
    assert.equal((raw.prepare('SELECT n FROM counter').get() as { n: number }).n, 7);
  });

  it('two processes migrating and incrementing one file at once lose nothing', async (t) => {
    const dir = tmpDir(t);
    const count = 200;
    const child = incrementer(t, dir, count);
    const store = await open(t, `sqlite:${dir}`, 'shared');
    await child.ready();
    child.go();
    const mine = await store.migrate(migrations);
    for (let i = 0; i < count; i++) {
      await store.transaction((tx) => tx.execute('UPDATE counter SET n = n + 1 WHERE id = 1'));
    }
    assert.equal(mine + (await child.result()), migrations.length);
    assert.deepEqual(await store.query('SELECT n FROM counter'), [{ n: 2 * count }]);
  });

  it('handles on one file share its connection; closing one leaves the others working', async (t) => {
    const dir = tmpDir(t);
    const a = await open(t, `sqlite:${dir}`);
    const b = await open(t, `sqlite:${dir}`);
    await a.migrate(migrations);
    await a.close();
    await assert.rejects(a.query('SELECT 1 AS one'), { code: StoreErrors.CLOSED });
    await b.execute('UPDATE counter SET n = 3');
    assert.deepEqual(await b.query('SELECT n FROM counter'), [{ n: 3 }]);
  });

  it('sqlite::memory: stores are private to their handle', async (t) => {
    const a = await open(t, 'sqlite::memory:');
    const b = await open(t, 'sqlite::memory:');
    await a.migrate(migrations);
    assert.equal(await b.migrate(migrations), 2);
    await a.execute('UPDATE counter SET n = 1');
    assert.deepEqual(await b.query('SELECT n FROM counter'), [{ n: 0 }]);
  });

  it('rewrites $n as ?n outside quotes and comments, and refuses several statements', () => {
    assert.equal(
      toSqliteParams(`SELECT $1, $12, '$1', "a$1", a$1 -- $1\n/* $2 */ WHERE x = $2;`),
      `SELECT ?1, ?12, '$1', "a$1", a$1 -- $1\n/* $2 */ WHERE x = ?2;`,
    );
    assert.equal(toSqliteParams(`SELECT 'it''s $1', $1`), `SELECT 'it''s $1', ?1`);
    assert.equal(toSqliteParams('SELECT 1; -- trailing comment\n'), 'SELECT 1; -- trailing comment\n');
    assert.throws(() => toSqliteParams('DELETE FROM a; DELETE FROM b'), /one statement/);
  });
});
