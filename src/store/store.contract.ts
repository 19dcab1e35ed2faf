// The semantics store.ts promises, checked against one backend. Each backend's test file calls
// storeContract() in one line.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { isAppError, KitErrors } from '../kit/errors.ts';
import { StoreErrors } from './errors.ts';
import type { Migration, Queryable, Store } from './store.ts';

/** Opens one more handle on namespace `name` of the same location: a restart or another process. */
export type OpenStore = (name: string) => Promise<Store>;

/**
 * `location(t)` prepares a fresh, isolated place for stores for one test (and registers its cleanup on
 * t) and returns how to open handles in it. Every handle the suite opens is closed after the test.
 */
export function storeContract(
  backend: string,
  location: (t: TestContext) => OpenStore | Promise<OpenStore>,
  options: { skip?: string | false } = {},
): void {
  async function setup(t: TestContext): Promise<OpenStore> {
    const opened: Store[] = [];
    // Registered before location(t)'s cleanup so handles close before their location goes away.
    t.after(() => Promise.all(opened.map((store) => store.close())));
    const openRaw = await location(t);
    return async (name) => {
      const store = await openRaw(name);
      opened.push(store);
      return store;
    };
  }

  /** A store with a counter row and a table with unique columns. */
  async function fixture(t: TestContext): Promise<Store> {
    const store = await (await setup(t))('main');
    await store.migrate([
      {
        id: '001-fixture',
        sql: `-- tables the contract uses
          CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
          INSERT INTO counter (id, n) VALUES (1, 0);
          CREATE TABLE item (
            id INTEGER PRIMARY KEY, s TEXT, small INTEGER, big BIGINT, flag INTEGER, x DOUBLE PRECISION,
            owner TEXT, slot INTEGER, UNIQUE (owner, slot)
          );
          CREATE TABLE account (email TEXT NOT NULL UNIQUE);`,
      },
    ]);
    return store;
  }

  const count = async (store: Pick<Store, 'query'>, table: string) =>
    (await store.query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n;

  const hasCode = (code: string) => (error: unknown) => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };

  describe(`${backend} store contract`, { skip: options.skip }, () => {
    it('binds $n parameters, repeated ones, booleans as 0/1 and null; leaves $n in literals alone', async (t) => {
      const store = await fixture(t);
      const changed = await store.execute(
        "INSERT INTO item (id, s, small, big, flag, x) VALUES ($1, '$2 -- literal', $1, $2, $3, $4)",
        [7, 2 ** 40, true, 1.5],
      );
      assert.deepEqual(changed, { changes: 1 });
      await store.execute('INSERT INTO item (id, s, flag) VALUES ($1, $2, $3)', [8, null, false]);
      const rows = await store.query('SELECT id, s, small, big, flag, x FROM item WHERE id = $1 OR small = $1', [7]);
      assert.deepEqual(rows, [{ id: 7, s: '$2 -- literal', small: 7, big: 2 ** 40, flag: 1, x: 1.5 }]);
      assert.deepEqual(await store.query('SELECT id, s FROM item WHERE flag = $1', [false]), [{ id: 8, s: null }]);
    });

    it('returns RETURNING rows and counts changes; integers read back as numbers', async (t) => {
      const store = await fixture(t);
      const inserted = await store.query('INSERT INTO item (id, big) VALUES ($1, $2), ($3, $4) RETURNING id, big', [
        1,
        10,
        2,
        2 ** 50,
      ]);
      assert.deepEqual(inserted, [
        { id: 1, big: 10 },
        { id: 2, big: 2 ** 50 },
      ]);
      assert.deepEqual(await store.execute('UPDATE item SET small = 3'), { changes: 2 });
      assert.deepEqual(await store.query('UPDATE item SET small = 4 WHERE id = 99 RETURNING id'), []);
      const [totals] = await store.query('SELECT count(*) AS n, sum(small) AS small, sum(big) AS big FROM item');
      assert.deepEqual(totals, { n: 2, small: 6, big: 10 + 2 ** 50 });
    });

    it('refuses a text of several statements without running any of them', async (t) => {
      const store = await fixture(t);
      await assert.rejects(store.execute('INSERT INTO item (id) VALUES (1); INSERT INTO item (id) VALUES (2)'));
      await assert.rejects(store.transaction((tx) => tx.query('UPDATE counter SET n = 1; SELECT n FROM counter')));
      assert.equal(await count(store, 'item'), 0);
      assert.deepEqual(await store.query('SELECT n FROM counter'), [{ n: 0 }]);
    });

    it('commits a transaction and returns what its callback returned', async (t) => {
      const store = await fixture(t);
      const result = await store.transaction(async (tx) => {
        await tx.execute('INSERT INTO item (id) VALUES (1)');
        await tx.execute('UPDATE counter SET n = n + 5 WHERE id = 1');
        return (await tx.query<{ n: number }>('SELECT n FROM counter'))[0]!.n;
      });
      assert.equal(result, 5);
      assert.equal(await count(store, 'item'), 1);
    });

    it('rolls back when the callback throws, and rethrows that very error', async (t) => {
      const store = await fixture(t);
      const failure = new Error('changed my mind');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.execute('INSERT INTO item (id) VALUES (1)');
          await tx.execute('UPDATE counter SET n = 9');
          throw failure;
        }),
        (error) => error === failure,
      );
      assert.equal(await count(store, 'item'), 0);
      assert.deepEqual(await store.query('SELECT n FROM counter'), [{ n: 0 }]);
    });

    it('a failed statement dooms its transaction even when the callback catches it', async (t) => {
      const store = await fixture(t);
      await store.execute("INSERT INTO account (email) VALUES ('a@x')");
      const outcome = store.transaction(async (tx) => {
        await tx.execute('INSERT INTO item (id) VALUES (1)');
        await tx.execute("INSERT INTO account (email) VALUES ('a@x')").catch(() => undefined);
        await assert.rejects(tx.execute('INSERT INTO item (id) VALUES (2)'), hasCode(StoreErrors.UNIQUE_VIOLATION));
        return 'done';
      });
      await assert.rejects(outcome, hasCode(StoreErrors.UNIQUE_VIOLATION));
      assert.equal(await count(store, 'item'), 0);
    });

    it('50 concurrent transactions incrementing one row end at exactly 50', async (t) => {
      const store = await fixture(t);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.transaction(async (tx) => {
            await tx.execute('UPDATE counter SET n = n + 1 WHERE id = 1');
            await tx.execute('INSERT INTO item (id) VALUES ($1)', [i]);
          }),
        ),
      );
      assert.deepEqual(await store.query('SELECT n FROM counter'), [{ n: 50 }]);
      assert.equal(await count(store, 'item'), 50);
    });

    it('calls made while another caller holds a transaction neither see nor join it', async (t) => {
      const store = await fixture(t);
      let entered!: () => void;
      const inside = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const abort = new Error('abort');
      const transaction = store.transaction(async (tx) => {
        await tx.execute('INSERT INTO item (id) VALUES (1)');
        entered();
        await gate;
        throw abort;
      });
      await inside;
      const seen = count(store, 'item');
      const written = store.execute("INSERT INTO account (email) VALUES ('outside@x')");
      release();
      await assert.rejects(transaction, (error) => error === abort);
      // Had they run inside the transaction, the read would count 1 and the rollback undo the write.
      assert.equal(await seen, 0);
      assert.deepEqual(await written, { changes: 1 });
      assert.equal(await count(store, 'account'), 1);
    });

    it('refuses store calls from inside its own transaction, and tx calls after it ended', async (t) => {
      const store = await fixture(t);
      let leaked: Queryable | undefined;
      await store.transaction(async (tx) => {
        leaked = tx;
        await assert.rejects(store.query('SELECT 1 AS one'), hasCode(KitErrors.INTERNAL));
      });
      await assert.rejects(leaked!.query('SELECT 1 AS one'), hasCode(StoreErrors.CLOSED));
      assert.deepEqual(await store.query('SELECT 1 AS one'), [{ one: 1 }]);
    });

    it('a UNIQUE violation is UNIQUE_VIOLATION with the constrained columns', async (t) => {
      const store = await fixture(t);
      await store.execute("INSERT INTO item (id, owner, slot) VALUES (1, 'o', 1)");
      await assert.rejects(store.execute("INSERT INTO item (id, owner, slot) VALUES (2, 'o', 1)"), (error) => {
        hasCode(StoreErrors.UNIQUE_VIOLATION)(error);
        assert.equal(isAppError(error) && error.status, 409);
        assert.deepEqual(isAppError(error) && error.details, { columns: ['owner', 'slot'] });
        return true;
      });
      await assert.rejects(store.execute('INSERT INTO item (id) VALUES (1)'), (error) => {
        hasCode(StoreErrors.UNIQUE_VIOLATION)(error);
        assert.deepEqual(isAppError(error) && error.details, { columns: ['id'] });
        return true;
      });
    });

    it('50 concurrent inserts of one unique value: one succeeds, 49 get UNIQUE_VIOLATION', async (t) => {
      const store = await fixture(t);
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? store.execute("INSERT INTO account (email) VALUES ('same@x')")
            : store.transaction((tx) => tx.execute("INSERT INTO account (email) VALUES ('same@x')")),
        ),
      );
      const rejected = results.filter((r) => r.status === 'rejected');
      assert.equal(rejected.length, 49);
      for (const r of rejected) {
        hasCode(StoreErrors.UNIQUE_VIOLATION)(r.reason);
        assert.deepEqual(r.reason.details, { columns: ['email'] });
      }
      assert.equal(await count(store, 'account'), 1);
    });

    migrationCases(setup, hasCode, count);

    it('namespaces are isolated: two names do not see each other', async (t) => {
      const open = await setup(t);
      const [a, b] = [await open('alpha'), await open('beta')];
      const create: Migration = { id: '001-things', sql: '-- things\nCREATE TABLE things (v TEXT);' };
      assert.equal(await a.migrate([create]), 1);
      assert.equal(await b.migrate([create]), 1);
      await a.execute("INSERT INTO things (v) VALUES ('only in alpha')");
      assert.equal(await count(b, 'things'), 0);
      assert.equal(await count(a, 'things'), 1);
      assert.equal(a.name, 'alpha');
      assert.equal(a.dialect, backend);
    });

    it('after close() every call rejects with CLOSED; close waits for a running transaction', async (t) => {
      const open = await setup(t);
      const store = await open('main');
      await store.execute('CREATE TABLE kept (v INTEGER)');
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const transaction = store.transaction(async (tx) => {
        await gate;
        await tx.execute('INSERT INTO kept (v) VALUES (1)');
      });
      const closed = store.close();
      release();
      await transaction;
      await closed;
      await store.close();
      const closedCode = hasCode(StoreErrors.CLOSED);
      await assert.rejects(store.query('SELECT 1 AS one'), closedCode);
      await assert.rejects(store.execute('SELECT 1 AS one'), closedCode);
      await assert.rejects(
        store.transaction(async () => undefined),
        closedCode,
      );
      await assert.rejects(store.migrate([]), closedCode);
      const reopened = await open('main');
      assert.equal(await count(reopened, 'kept'), 1);
    });
  });
}

function migrationCases(
  setup: (t: TestContext) => Promise<OpenStore>,
  hasCode: (code: string) => (error: unknown) => boolean,
  count: (store: Store, table: string) => Promise<number>,
): void {
  const m1: Migration = { id: '001-users', sql: '-- users\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);' };
  const m2: Migration = {
    id: '002-orders',
    sql: '-- orders, two statements\nCREATE TABLE orders (id INTEGER);\nINSERT INTO orders (id) VALUES (1);',
  };
  const m3: Migration = { id: '003-index', sql: '-- unique emails\nCREATE UNIQUE INDEX users_email ON users (email);' };
  const mismatch = hasCode(StoreErrors.MIGRATION_MISMATCH);

  it('migrations apply once each, in order, and a second call applies none', async (t) => {
    const store = await (await setup(t))('main');
    assert.equal(await store.migrate([m2, m1]), 2);
    assert.equal(await store.migrate([m1, m2]), 0);
    assert.equal(await count(store, 'orders'), 1);
    assert.equal(await store.migrate([m1, m2, m3]), 1);
    await store.execute("INSERT INTO users (id, email) VALUES (1, 'a@x')");
    await assert.rejects(store.execute("INSERT INTO users (id, email) VALUES (2, 'a@x')"), (error) =>
      hasCode(StoreErrors.UNIQUE_VIOLATION)(error),
    );
    const ids = await store.query<{ id: string }>('SELECT id FROM migrations ORDER BY applied_at, id');
    assert.deepEqual(
      ids.map((r) => r.id),
      ['001-users', '002-orders', '003-index'],
    );
  });

  it('an edited, unknown or out-of-order migration is MIGRATION_MISMATCH', async (t) => {
    const store = await (await setup(t))('main');
    await store.migrate([m1, m3]);
    await assert.rejects(store.migrate([{ ...m1, sql: `${m1.sql}\n-- edited` }, m3]), mismatch);
    await assert.rejects(store.migrate([m1]), mismatch);
    await assert.rejects(store.migrate([m1, m2, m3]), mismatch);
    await assert.rejects(store.migrate([m1, m1, m3]), mismatch);
    assert.equal(await store.migrate([m1, m3]), 0);
  });

  it('a failing migration leaves nothing behind and is retried next time', async (t) => {
    const store = await (await setup(t))('main');
    const broken: Migration = { id: '002-orders', sql: '-- half\nCREATE TABLE orders (id INTEGER);\nNOT SQL;' };
    await assert.rejects(store.migrate([m1, broken]));
    const applied = await store.query<{ id: string }>('SELECT id FROM migrations');
    assert.deepEqual(
      applied.map((r) => r.id),
      ['001-users'],
    );
    assert.equal(await store.migrate([m1, m2]), 1);
    assert.equal(await count(store, 'orders'), 1);
  });

  it('handles migrating one namespace at once apply each migration exactly once', async (t) => {
    const open = await setup(t);
    const stores = await Promise.all(Array.from({ length: 4 }, () => open('main')));
    // m2 inserts a row: applying it twice would show as 2 rows, and CREATE TABLE twice would fail.
    const applied = await Promise.all(stores.map((store) => store.migrate([m1, m2, m3])));
    assert.equal(
      applied.reduce((a, b) => a + b, 0),
      3,
    );
    assert.equal(await count(stores[0]!, 'orders'), 1);
    assert.equal(await count(stores[0]!, 'migrations'), 3);
  });
}
