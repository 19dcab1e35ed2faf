// `npm start`'s topology (the repository's archlab.yaml): the five seed systems at once on the embedded
// defaults. Every instance runs and the monitor sees it up; one request per seed through the gateway.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { InstanceStatus } from '../../src/supervisor/run-file.ts';
import { loadTopology } from '../../src/topology/loader.ts';
import { CLI, call, startSystem } from '../helpers/system.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const DEFAULT = new URL('../../archlab.yaml', import.meta.url).pathname;

test('the default topology runs all five seed systems; each answers through the gateway', async (t) => {
  const system = await startSystem(t, { topology: DEFAULT, startTimeoutMs: 60_000 });
  const gw = system.gateway;
  const topology = await loadTopology(DEFAULT, { dataDir: system.dataDir, env: {} });
  const expected = topology.services.flatMap((s) => {
    const spares = s.redundancy.type === 'passive' ? s.redundancy.spares : 0;
    return [
      ...Array.from({ length: s.instances }, (_, i) => `${s.name}-${i + 1}`),
      ...Array.from({ length: spares }, (_, i) => `${s.name}-spare-${i + 1}`),
    ];
  });

  const everyoneUp = await waitFor(
    async () => {
      const { stdout } = await run(process.execPath, [CLI, 'status', '--json', '--data', system.dataDir]);
      const list = JSON.parse(stdout) as InstanceStatus[];
      const services = list.filter((i) => i.name !== 'gateway' && i.name !== 'monitor');
      return services.every((i) => i.state === 'running' && i.health === 'up') ? list : undefined;
    },
    { what: 'every instance running and up', timeoutMs: 60_000 },
  );
  assert.deepEqual(
    everyoneUp
      .map((i) => i.name)
      .filter((n) => n !== 'gateway' && n !== 'monitor')
      .sort(),
    expected.sort(),
  );

  // 000: registration through the redundancy queues.
  const seed000 = await call(`${gw}/api/v1/users`, { body: { email: `s000-${process.pid}@example.com` } });
  assert.equal(seed000.status, 202);
  assert.equal(seed000.body.message, 'Email received successfully');

  // 001: SportApp registration.
  const seed001 = await call(`${gw}/user-commands/users/register`, {
    body: { correo: `s001-${process.pid}@example.com`, clave: 'x' },
  });
  assert.equal(seed001.status, 201);
  assert.equal(seed001.body.message, 'Usuario registrado exitosamente');

  // 002: a seller and a sale, read back from the replicas.
  const seller = await call(`${gw}/api/vendedor`, {
    body: {
      nombre: 'Ana',
      apellido: 'Pérez',
      tipo_documento: 'CEDULA',
      numero_documento: `${process.pid}`,
      telefono: '300',
    },
  });
  assert.equal(seller.status, 201);
  const sale = await call(`${gw}/api/venta/${seller.body.id}`, {
    body: { producto: 'cafe', cantidad: 2, cliente: 'Sol' },
  });
  assert.equal(sale.status, 201);
  const sold = await waitFor(async () => {
    const res = await call(`${gw}/api/venta/${sale.body.id}?minSeq=${sale.body.seq}`);
    return res.status === 200 ? res : undefined;
  });
  assert.equal(sold.body.producto, 'cafe');

  // 003: the calculator over gRPC.
  assert.deepEqual((await call(`${gw}/add/6/7`)).body, { operation: 'add', result: 13 });

  // 004: a user, a product and an order that completes.
  const user = await call(`${gw}/api-commands/users`, { body: { username: `s004-${process.pid}` } });
  assert.equal(user.status, 201);
  const product = await call(`${gw}/api-commands/products`, {
    body: { name: 'lente', description: '50 mm', value: 120.5, stock: 3 },
  });
  assert.equal(product.status, 201);
  const order = await waitFor(async () => {
    const res = await call(`${gw}/api-commands/orders`, {
      body: { user: user.body.id, product: product.body.id, quantity: 2 },
    });
    return res.status === 202 ? res : undefined;
  });
  const settled = await waitFor(async () => {
    const res = await call(`${gw}/api-queries/orders/${order.body.id}`);
    return res.status === 200 && res.body.state !== 'processing' ? res : undefined;
  });
  assert.equal(settled.body.state, 'completed');
});
