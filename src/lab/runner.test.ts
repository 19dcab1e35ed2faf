import assert from 'node:assert/strict';
import { test } from 'node:test';
import { merge, withCaptured } from './runner.ts';

test('variant overrides merge maps key by key; lists, scalars and a redundancy choice replace', () => {
  const base = {
    monitor: { intervalMs: 100, timeoutMs: 50 },
    services: { 'sales-queries': { instances: 3, redundancy: { active: { policy: 'primary-backup' } } } },
    routes: [{ prefix: '/a' }],
  };
  const merged = merge(base, {
    monitor: { intervalMs: 200 },
    services: { 'sales-queries': { instances: 1, redundancy: { passive: { spares: 1, mode: 'cold' } } } },
    routes: [{ prefix: '/b' }],
  });
  assert.deepEqual(merged, {
    monitor: { intervalMs: 200, timeoutMs: 50 },
    services: { 'sales-queries': { instances: 1, redundancy: { passive: { spares: 1, mode: 'cold' } } } },
    routes: [{ prefix: '/b' }],
  });
  assert.deepEqual(
    base.services['sales-queries'].redundancy,
    { active: { policy: 'primary-backup' } },
    'base untouched',
  );
});

test('captured setup ids fill {name} in paths and body strings; {id} of verify and unknown names stay', () => {
  const request = {
    method: 'POST',
    path: '/api-commands/orders/{user}',
    body: { user: '{user}', items: [{ product: '{product}', note: 'keep {unknown}' }], quantity: 1 },
    command: true,
  };
  assert.deepEqual(withCaptured(request, { user: 'u-1', product: 'p-9' }), {
    ...request,
    path: '/api-commands/orders/u-1',
    body: { user: 'u-1', items: [{ product: 'p-9', note: 'keep {unknown}' }], quantity: 1 },
  });
  assert.equal(withCaptured(request, {}), request, 'nothing captured: the same request');
});
