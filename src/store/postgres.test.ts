import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { freePort } from '../../test/helpers/ports.ts';
import { admin, dropSchemas, schemasUnder } from '../../test/helpers/postgres.ts';
import { needPostgres, POSTGRES_URL } from '../../test/helpers/services.ts';
import { uniqueName } from '../../test/helpers/tmp.ts';
import { createStore } from './create-store.ts';
import { StoreErrors } from './errors.ts';
import { schemaFor } from './postgres.ts';
import { storeContract } from './store.contract.ts';
import type { Store } from './store.ts';

const skip = await needPostgres();

storeContract('postgres', (t) => location(t).open, { skip });

/** A schema prefix unique to this test; every schema under it is dropped after the test. */
function location(t: TestContext) {
  const prefix = `${uniqueName('t')}_`;
  t.after(() => admin((client) => dropSchemas(client, prefix)));
  return { prefix, open: (name: string) => createStore(POSTGRES_URL, { name, prefix }) };
}

describe('postgres store', { skip }, () => {
  async function open(t: TestContext, name: string, prefix: string): Promise<Store> {
    const store = await createStore(POSTGRES_URL, { name, prefix });
    t.after(() => store.close());
    return store;
  }

  it('creates schema <prefix><name> with - as _, holding the tables, and cleanup drops it', async () => {
    const prefix = `${uniqueName('t')}_`;
    try {
      const store = await createStore(POSTGRES_URL, { name: 'order-queries', prefix });
      await store.migrate([{ id: '001-orders', sql: '-- orders\nCREATE TABLE orders (id INTEGER);' }]);
      await store.close();
      const schema = `${prefix}order_queries`;
      assert.equal(schemaFor(prefix, 'order-queries'), schema);
      assert.deepEqual(await admin((client) => schemasUnder(client, prefix)), [schema]);
      const { rows } = await admin((client) =>
        client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]),
      );
      assert.deepEqual(
        rows.map((row) => row.table_name),
        ['migrations', 'orders'],
      );
    } finally {
      await admin((client) => dropSchemas(client, prefix));
    }
    assert.deepEqual(await admin((client) => schemasUnder(client, prefix)), []);
  });

  it('takes the schema prefix from ?prefix= in the URL', async (t) => {
    const { prefix } = location(t);
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('prefix', prefix);
    const store = await createStore(url.href, { name: 'users' });
    t.after(() => store.close());
    await store.execute('CREATE TABLE users (id INTEGER)');
    assert.deepEqual(await admin((client) => schemasUnder(client, prefix)), [`${prefix}users`]);
  });

  it('parses BIGINT as numbers in its own pool only, leaving pg.types alone', async (t) => {
    const { prefix } = location(t);
    const store = await open(t, 'main', prefix);
    assert.deepEqual(await store.query('SELECT 9007199254740991::bigint AS v'), [{ v: 2 ** 53 - 1 }]);
    const { rows } = await admin((client) => client.query('SELECT 1::bigint AS v'));
    assert.deepEqual(rows, [{ v: '1' }]);
  });

  it('opening many stores on one schema at once creates it once', async (t) => {
    const { prefix } = location(t);
    const stores = await Promise.all(Array.from({ length: 5 }, () => open(t, 'main', prefix)));
    assert.equal(stores.length, 5);
    assert.deepEqual(await admin((client) => schemasUnder(client, prefix)), [`${prefix}main`]);
  });
});

it('a refused connection is UNAVAILABLE and retryable', async () => {
  const port = await freePort();
  await assert.rejects(createStore(`postgres://postgres@127.0.0.1:${port}/test`, { name: 'main' }), (error) => {
    assert.equal((error as { code?: unknown }).code, StoreErrors.UNAVAILABLE);
    assert.equal((error as { retryable?: unknown }).retryable, true);
    return true;
  });
});
