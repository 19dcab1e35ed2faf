// The sales commands against a real store, on SQLite and on PostgreSQL (where transactions really run
// side by side): uniqueness of documents, the delete-with-sales rule under a race, integer ids in
// commit order, and Idempotency-Key replays.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { admin, dropSchemas } from '../../../test/helpers/postgres.ts';
import { needPostgres, POSTGRES_URL } from '../../../test/helpers/services.ts';
import { uniqueName } from '../../../test/helpers/tmp.ts';
import { isAppError } from '../../kit/errors.ts';
import { continueTrace } from '../../kit/trace.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import {
  type CommandContext,
  type CommandMeta,
  deleteSeller,
  recordSale,
  registerSeller,
  SEED_002,
  type SellerInput,
  updateSeller,
} from './commands.ts';

const migrations = [...outboxMigrations, ...loadMigrations(new URL('./migrations/commands/', import.meta.url))];
const pgSkip = await needPostgres();

const backends: { name: string; skip: string | false; open: (t: TestContext) => Promise<Store> }[] = [
  { name: 'sqlite', skip: false, open: () => createStore('sqlite::memory:', { name: 'sales-commands' }) },
  {
    name: 'postgres',
    skip: pgSkip,
    open: (t) => {
      const prefix = `${uniqueName('t')}_`;
      t.after(() => admin((client) => dropSchemas(client, prefix)));
      return createStore(POSTGRES_URL, { name: 'sales-commands', prefix });
    },
  },
];

const seller = (n: string, over: Partial<SellerInput> = {}): SellerInput => ({
  nombre: 'Ana',
  apellido: 'Pérez',
  tipo_documento: 'CEDULA',
  numero_documento: n,
  telefono: '3001234567',
  ...over,
});
const sale = { producto: 'cafe', cantidad: 3, cliente: 'Tienda Sol' };
const meta = (idempotencyKey?: string): CommandMeta => ({ idempotencyKey, trace: continueTrace({}) });

/** Runs `fn` and returns the AppError code it threw (fails when it did not throw one). */
async function codeOf(fn: () => Promise<unknown>): Promise<{ status: number; code: string; details: unknown }> {
  try {
    await fn();
  } catch (error) {
    if (isAppError(error)) return { status: error.status, code: error.code, details: error.details };
    throw error;
  }
  assert.fail('expected an AppError');
}

for (const backend of backends) {
  describe(`sales commands (${backend.name})`, { skip: backend.skip }, () => {
    async function setup(t: TestContext) {
      const store = await backend.open(t);
      t.after(() => store.close());
      await store.migrate(migrations);
      let commits = 0;
      const ctx: CommandContext = { store, instance: 'sales-commands-1', committed: () => void commits++ };
      const count = async (table: string) =>
        Number((await store.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);
      return { store, ctx, count, commits: () => commits };
    }

    test('register: 201 with the seed message, integer ids from 1, the event seq; the document is unique', async (t) => {
      const { ctx, count } = await setup(t);
      const first = await registerSeller(ctx, { ...seller('1.020.304'), extra: 'dropped' } as SellerInput, meta());
      assert.equal(first.status, 201);
      assert.deepEqual(first.body, {
        message: SEED_002.SELLER_CREATED,
        vendedor: { id: 1, ...seller('1.020.304') },
        id: 1,
        seq: 1,
      });
      const second = await registerSeller(ctx, seller('555', { tipo_documento: 'PASAPORTE' }), meta());
      assert.deepEqual([second.body.id, second.body.seq], [2, 2]);
      // The same cédula written otherwise is the same document; another type with that number is not.
      for (const twin of ['1020304', '1 020 304', '1-020-304']) {
        const refused = await codeOf(() => registerSeller(ctx, seller(twin), meta()));
        assert.deepEqual([refused.status, refused.code], [409, 'seller_document_taken'], twin);
      }
      const other = await registerSeller(ctx, seller('1020304', { tipo_documento: 'PASAPORTE' }), meta());
      assert.equal(other.body.id, 3, 'a refused registration used no id');
      assert.equal(await count('outbox'), 3, 'refused commands wrote no event');
    });

    test('update replaces the fields (200, seed message); 404 unknown; 409 onto another seller’s document', async (t) => {
      const { ctx, count } = await setup(t);
      await registerSeller(ctx, seller('100'), meta());
      await registerSeller(ctx, seller('200'), meta());
      const updated = await updateSeller(
        ctx,
        1,
        seller('101', { nombre: 'Ana María', telefono: '6015550000' }),
        meta(),
      );
      assert.equal(updated.status, 200);
      assert.deepEqual(updated.body, {
        message: SEED_002.SELLER_UPDATED,
        vendedor: { id: 1, ...seller('101', { nombre: 'Ana María', telefono: '6015550000' }) },
        seq: 3,
      });
      assert.deepEqual(await codeOf(() => updateSeller(ctx, 9, seller('900'), meta())), {
        status: 404,
        code: 'seller_not_found',
        details: undefined,
      });
      assert.equal((await codeOf(() => updateSeller(ctx, 1, seller('200'), meta()))).code, 'seller_document_taken');
      // Keeping one's own document is not a conflict.
      assert.equal((await updateSeller(ctx, 2, seller('200', { apellido: 'Gómez' }), meta())).status, 200);
      assert.equal(await count('outbox'), 4);
    });

    test('sales: 404 for an unknown seller; a seller with sales cannot be deleted, one without can', async (t) => {
      const { store, ctx, count } = await setup(t);
      await registerSeller(ctx, seller('100'), meta());
      await registerSeller(ctx, seller('200'), meta());
      assert.equal((await codeOf(() => recordSale(ctx, 7, sale, meta()))).code, 'seller_not_found');
      const recorded = await recordSale(ctx, 1, sale, meta());
      assert.equal(recorded.status, 201);
      assert.deepEqual(recorded.body, { id: 1, ...sale, vendedor: 1, seq: 3 });
      assert.equal((await recordSale(ctx, 1, { ...sale, cantidad: 1 }, meta())).body.id, 2);

      assert.deepEqual(await codeOf(() => deleteSeller(ctx, 1, meta())), {
        status: 409,
        code: 'seller_has_sales',
        details: { sales: 2 },
      });
      assert.deepEqual((await deleteSeller(ctx, 2, meta())).body, { id: 2, seq: 5 });
      assert.equal((await codeOf(() => deleteSeller(ctx, 2, meta()))).code, 'seller_not_found');
      assert.equal((await codeOf(() => recordSale(ctx, 2, sale, meta()))).code, 'seller_not_found');
      const [row] = await store.query<{ recorded_by: string }>('SELECT recorded_by FROM sales WHERE id = 1');
      assert.equal(row!.recorded_by, 'sales-commands-1');
      assert.equal(await count('sales'), 2);
    });

    test('a delete racing sales: either it refuses and every sale stands, or it wins and no sale names the seller', async (t) => {
      const { store, ctx } = await setup(t);
      for (let round = 0; round < 5; round++) {
        const { body } = await registerSeller(ctx, seller(`r${round}`), meta());
        const id = body.id as number;
        const outcomes = await Promise.allSettled([
          ...Array.from({ length: 10 }, () => recordSale(ctx, id, sale, meta())),
          deleteSeller(ctx, id, meta()),
          ...Array.from({ length: 10 }, () => recordSale(ctx, id, sale, meta())),
        ]);
        const deleted = outcomes[10]!.status === 'fulfilled';
        const recorded = outcomes.filter((o, i) => i !== 10 && o.status === 'fulfilled').length;
        const rows = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM sales WHERE seller_id = $1', [id]);
        assert.equal(Number(rows[0]!.n), recorded, 'every 201 is a stored sale');
        if (deleted) assert.equal(recorded, 0, 'a seller deleted had no sale');
        for (const o of outcomes) {
          if (o.status === 'rejected') {
            assert.ok(isAppError(o.reason), String(o.reason));
            assert.ok(['seller_not_found', 'seller_has_sales'].includes(o.reason.code), o.reason.code);
          }
        }
      }
      const ids = await store.query<{ id: number }>('SELECT id FROM sales ORDER BY id');
      assert.deepEqual(
        ids.map((r) => Number(r.id)),
        ids.map((_, i) => i + 1),
        'sale ids are gap-free',
      );
    });

    test('Idempotency-Key: a repeat (even concurrent) returns the first answer and records once; reuse is 422', async (t) => {
      const { ctx, count } = await setup(t);
      await registerSeller(ctx, seller('100'), meta());
      const first = await recordSale(ctx, 1, sale, meta('sale-1'));
      const again = await recordSale(ctx, 1, sale, meta('sale-1'));
      assert.deepEqual(again, first);
      const twins = await Promise.all(Array.from({ length: 8 }, () => recordSale(ctx, 1, sale, meta('sale-2'))));
      for (const twin of twins) assert.deepEqual(twin, twins[0]);
      assert.equal(await count('sales'), 2);
      const reused = await codeOf(() => recordSale(ctx, 1, { ...sale, cantidad: 4 }, meta('sale-1')));
      assert.deepEqual([reused.status, reused.code], [422, 'idempotency_key_reused']);
      assert.equal((await codeOf(() => recordSale(ctx, 1, sale, meta('bad key')))).code, 'invalid_idempotency_key');
      // A registration repeated under its key does not run into its own document.
      const created = await registerSeller(ctx, seller('300'), meta('seller-300'));
      assert.deepEqual(await registerSeller(ctx, seller('300'), meta('seller-300')), created);
      // A refused command stores no answer: once the cause is gone, the same key succeeds.
      assert.equal((await codeOf(() => recordSale(ctx, 3, sale, meta('late')))).code, 'seller_not_found');
      await registerSeller(ctx, seller('400'), meta());
      assert.equal((await recordSale(ctx, 3, sale, meta('late'))).status, 201);
    });
  });
}
