import assert from 'node:assert/strict';
import { test } from 'node:test';
import { merge } from './runner.ts';

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
