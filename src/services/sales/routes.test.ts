// The sales HTTP routes in one process: a command service and a query service (Fastify inject) joined
// by a real outbox relay, an in-memory bus and a projector — the seed's fields, messages and status
// codes, strict bodies, pages, and read-your-writes with minSeq.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { silentLogger } from '../../../test/helpers/log.ts';
import { createBus } from '../../bus/create-bus.ts';
import { projectorMigrations, startProjector } from '../../kit/projector.ts';
import { createService } from '../../kit/service.ts';
import { createStore } from '../../store/create-store.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations, startOutboxRelay } from '../../store/outbox.ts';
import { SALES_STREAM } from './events.ts';
import { applySalesEvent } from './projection.ts';
import { commandRoutes, queryRoutes } from './routes.ts';

async function salesSlice(t: TestContext) {
  const log = silentLogger();
  const bus = await createBus('sqlite::memory:');
  t.after(() => bus.close());
  const writeStore = await createStore('sqlite::memory:', { name: 'sales-commands' });
  t.after(() => writeStore.close());
  await writeStore.migrate([
    ...outboxMigrations,
    ...loadMigrations(new URL('./migrations/commands/', import.meta.url)),
  ]);
  const relay = startOutboxRelay({ store: writeStore, bus, log, pollIntervalMs: 10 });
  t.after(() => relay.close());
  const commands = createService({ service: 'sales-commands', instance: 'sales-commands-1', role: 'command', log });
  commandRoutes(commands.app, { store: writeStore, instance: 'sales-commands-1', committed: relay.notify });
  t.after(() => commands.close());

  const readStore = await createStore('sqlite::memory:', { name: 'sales-queries-1' });
  t.after(() => readStore.close());
  await readStore.migrate([
    ...projectorMigrations,
    ...loadMigrations(new URL('./migrations/queries/', import.meta.url)),
  ]);
  const projector = await startProjector({
    name: 'sales',
    stream: SALES_STREAM,
    bus,
    store: readStore,
    log,
    apply: applySalesEvent,
  });
  t.after(() => projector.close());
  const queries = createService({ service: 'sales-queries', instance: 'sales-queries-1', role: 'query', log });
  queryRoutes(queries.app, readStore, projector);
  t.after(() => queries.close());

  const send = async (app: typeof commands.app, method: string, url: string, body?: unknown) => {
    const res = await app.inject({
      method: method as 'GET',
      url,
      ...(body === undefined
        ? {}
        : typeof body === 'string'
          ? { payload: body, headers: { 'content-type': 'application/json' } }
          : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.body === '' ? undefined : res.json(), headers: res.headers };
  };
  return {
    command: (method: string, url: string, body?: unknown) => send(commands.app, method, url, body),
    query: (url: string) => send(queries.app, 'GET', url),
  };
}

const ana = {
  nombre: 'Ana',
  apellido: 'Pérez',
  tipo_documento: 'CEDULA',
  numero_documento: '1020304',
  telefono: '300 123 4567',
};

test('seed 002 routes: sellers and sales with the seed’s fields and messages; reads wait for minSeq', async (t) => {
  const { command, query } = await salesSlice(t);
  const created = await command('POST', '/vendedor', ana);
  assert.equal(created.status, 201);
  assert.deepEqual(created.body, {
    message: 'Vendedor creado exitosamente',
    vendedor: { id: 1, ...ana },
    id: 1,
    seq: 1,
  });
  const duplicate = await command('POST', '/vendedor', { ...ana, numero_documento: '1.020.304' });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.body.error.code, 'seller_document_taken');

  const sale = await command('POST', '/venta/1', { producto: 'cafe', cantidad: 2, cliente: 'Tienda Sol' });
  assert.equal(sale.status, 201);
  assert.deepEqual(sale.body, { id: 1, producto: 'cafe', cantidad: 2, cliente: 'Tienda Sol', vendedor: 1, seq: 2 });
  assert.equal((await command('POST', '/venta/99', { producto: 'x', cantidad: 1, cliente: 'y' })).status, 404);

  const ventas = await query('/ventas?minSeq=2');
  assert.equal(ventas.status, 200);
  assert.deepEqual(ventas.body, [{ id: 1, producto: 'cafe', cantidad: 2, cliente: 'Tienda Sol', vendedor: 1 }]);
  assert.equal(ventas.headers['x-read-model-position'], '2');
  assert.deepEqual((await query('/venta/1')).body, ventas.body[0]);
  for (const missing of ['/venta/2', '/venta/abc', '/venta/0']) {
    const res = await query(missing);
    assert.equal(res.status, 404, missing);
    assert.equal(res.body.error.code, 'sale_not_found', missing);
  }
  assert.deepEqual((await query('/vendedores/1')).body, { id: 1, ...ana });

  const edited = await command('PUT', '/vendedor/1', { ...ana, telefono: '6015550000' });
  assert.equal(edited.status, 200);
  assert.equal(edited.body.message, 'Vendedor Editado');
  assert.equal((await query(`/vendedores/1?minSeq=${edited.body.seq}`)).body.telefono, '6015550000');
  assert.equal((await command('PUT', '/vendedor/7', ana)).body.error.code, 'seller_not_found');

  const refused = await command('DELETE', '/vendedor/1');
  assert.deepEqual([refused.status, refused.body.error.code], [409, 'seller_has_sales']);
  const luis = await command('POST', '/vendedor', {
    ...ana,
    nombre: 'Luis',
    numero_documento: 'AB12345',
    tipo_documento: 'PASAPORTE',
  });
  const deleted = await command('DELETE', `/vendedor/${luis.body.id}`);
  assert.deepEqual(deleted.body, { id: 2, seq: deleted.body.seq });
  const gone = await query(`/vendedores/2?minSeq=${deleted.body.seq}`);
  assert.deepEqual([gone.status, gone.body.error.code], [404, 'seller_not_found']);
  assert.deepEqual(
    (await query('/vendedores')).body.map((s: { id: number }) => s.id),
    [1],
  );
});

test('bad bodies are 400s that change nothing: types are not coerced, cantidad is a positive integer', async (t) => {
  const { command, query } = await salesSlice(t);
  await command('POST', '/vendedor', ana);
  const badSellers: [string, unknown][] = [
    ['tipo_documento', { ...ana, tipo_documento: 'NIT' }],
    ['numero_documento', { ...ana, numero_documento: '' }],
    ['numero_documento', { ...ana, numero_documento: 1020304 }],
    ['telefono', { ...ana, telefono: 'call me' }],
    ['nombre', { ...ana, nombre: '   ' }],
    ['apellido', { nombre: 'x', tipo_documento: 'CEDULA', numero_documento: '1', telefono: '123' }],
  ];
  for (const [field, body] of badSellers) {
    const res = await command('POST', '/vendedor', body);
    assert.equal(res.status, 400, field);
    assert.equal(res.body.error.code, 'validation_failed', field);
    assert.match(res.body.error.message, new RegExp(field), field);
  }
  const badSales: unknown[] = [
    { producto: 'cafe', cantidad: 0, cliente: 'c' },
    { producto: 'cafe', cantidad: -2, cliente: 'c' },
    { producto: 'cafe', cantidad: 1.5, cliente: 'c' },
    { producto: 'cafe', cantidad: '3', cliente: 'c' },
    { producto: 'cafe', cantidad: true, cliente: 'c' },
    { producto: 'cafe', cantidad: 2_000_000_000, cliente: 'c' },
    { producto: '', cantidad: 1, cliente: 'c' },
    { producto: 'cafe', cantidad: 1 },
    [],
  ];
  for (const body of badSales) {
    const res = await command('POST', '/venta/1', body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.error.code, 'validation_failed', JSON.stringify(body));
  }
  const broken = await command('POST', '/venta/1', '{"producto": ');
  assert.deepEqual([broken.status, broken.body.error.code], [400, 'invalid_json']);
  assert.equal((await command('DELETE', '/vendedor/x')).body.error.code, 'seller_not_found');
  const good = await command('POST', '/venta/1', { producto: 'cafe', cantidad: 1, cliente: 'c' });
  assert.equal(good.body.id, 1, 'no refused body used an id');
  assert.equal(good.body.seq, 2, 'no refused body wrote an event');
  assert.equal((await query('/ventas?minSeq=x')).body.error.code, 'invalid_min_seq');
  assert.equal((await query('/ventas?limit=0')).status, 400);
  assert.equal((await query('/ventas?cursor=-1')).status, 400);
});

test('GET /ventas pages: a Link that resolves under any prefix, every sale once, in order', async (t) => {
  const { command, query } = await salesSlice(t);
  await command('POST', '/vendedor', ana);
  let seq = 0;
  for (let i = 1; i <= 5; i++) {
    seq = (await command('POST', '/venta/1', { producto: `p${i}`, cantidad: i, cliente: 'c' })).body.seq;
  }
  const seen: string[] = [];
  let next: string | undefined = `/ventas?limit=2&minSeq=${seq}`;
  while (next !== undefined) {
    const page = await query(next);
    seen.push(...page.body.map((s: { producto: string }) => s.producto));
    const link = /<([^>]+)>; rel="next"/.exec(String(page.headers.link ?? ''))?.[1];
    if (link !== undefined) {
      // The same Link resolved against the gateway's path lands on the gateway's route.
      assert.equal(new URL(link, 'http://gw/api/ventas?limit=2').pathname, '/api/ventas');
      const url = new URL(link, `http://service${next}`);
      next = url.pathname + url.search;
    } else {
      next = undefined;
    }
    assert.ok(seen.length <= 5);
  }
  assert.deepEqual(seen, ['p1', 'p2', 'p3', 'p4', 'p5']);
});
