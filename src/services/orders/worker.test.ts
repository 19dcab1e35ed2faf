// What the worker does with each answer, with the products and orders command sides faked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Job } from '../../bus/bus.ts';
import { createLogger } from '../../kit/logger.ts';
import type { Answer, Upstream } from './upstream.ts';
import { processOrder, settlementFor, type WorkerDeps } from './worker.ts';

const log = createLogger({ level: 'silent' });
const job: Job = {
  id: 'o-1',
  queue: 'orders.process',
  payload: { orderId: 'o-1', product: 'p-1', quantity: 2 },
  headers: {},
  attempt: 1,
  from: [],
  enqueuedAt: 1,
};

function fakeUpstream(reservation: Omit<Answer, 'url'>, settlement: Omit<Answer, 'url'> = { status: 200, body: {} }) {
  const calls: { service: string; path: string; body: unknown }[] = [];
  const upstream: Upstream = {
    async post(service, path, body) {
      calls.push({ service, path, body });
      return { ...(service === 'products-commands' ? reservation : settlement), url: 'http://x' };
    },
  };
  return { upstream, calls };
}

const deps = (upstream: Upstream, crashOn = false): WorkerDeps => ({
  upstream,
  log,
  crashAfterReserve: () => crashOn,
  crash: () => {
    throw new Error('crashed');
  },
});

test('reservation answers map to settlements; anything unexpected fails the attempt', () => {
  assert.deepEqual(settlementFor({ status: 201, body: { outcome: 'reserved' } }), { state: 'completed' });
  assert.deepEqual(settlementFor({ status: 200, body: { outcome: 'reserved' } }), { state: 'completed' });
  assert.deepEqual(settlementFor({ status: 201, body: { outcome: 'refused' } }), {
    state: 'failed',
    reason: 'insufficient_stock',
  });
  assert.deepEqual(settlementFor({ status: 404, body: { error: { code: 'product_not_found' } } }), {
    state: 'failed',
    reason: 'product_not_found',
  });
  assert.throws(() => settlementFor({ status: 409, body: { error: { code: 'reservation_mismatch' } } }));
  assert.throws(() => settlementFor({ status: 404, body: { error: { code: 'not_found' } } }));
});

test('a job reserves for its order id, then settles the order', async () => {
  const { upstream, calls } = fakeUpstream({ status: 201, body: { outcome: 'reserved' } });
  assert.deepEqual(await processOrder(deps(upstream), job), { state: 'completed' });
  assert.deepEqual(calls, [
    {
      service: 'products-commands',
      path: '/internal/products/p-1/reservations',
      body: { orderId: 'o-1', quantity: 2 },
    },
    { service: 'orders-commands', path: '/internal/orders/o-1/settlement', body: { state: 'completed' } },
  ]);
});

test('the crash fault fires after a fresh reservation only, so the redelivered job settles', async () => {
  const fresh = fakeUpstream({ status: 201, body: { outcome: 'reserved' } });
  await assert.rejects(processOrder(deps(fresh.upstream, true), job), /crashed/);
  assert.equal(fresh.calls.length, 1, 'died before settling');
  const replay = fakeUpstream({ status: 200, body: { outcome: 'reserved', replayed: true } });
  assert.deepEqual(await processOrder(deps(replay.upstream, true), { ...job, attempt: 2 }), { state: 'completed' });
  const refused = fakeUpstream({ status: 201, body: { outcome: 'refused' } });
  assert.equal((await processOrder(deps(refused.upstream, true), job)).state, 'failed');
});

test('a settlement the orders side does not confirm fails the attempt (the job is retried)', async () => {
  const { upstream } = fakeUpstream({ status: 201, body: { outcome: 'reserved' } }, { status: 404, body: {} });
  await assert.rejects(processOrder(deps(upstream), job), /answered 404/);
  const settledOtherwise = fakeUpstream({ status: 201, body: { outcome: 'reserved' } }, { status: 409, body: {} });
  assert.equal((await processOrder(deps(settledOtherwise.upstream), job)).state, 'completed');
});
