import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteSpec } from '../topology/types.ts';
import { createRouter } from './routes.ts';

const route = (prefix: string, service: string, rewrite?: string): RouteSpec => ({
  prefix,
  service,
  rewrite,
  idempotent: false,
  storeAndForward: false,
  timeoutMs: 1000,
  tryTimeoutMs: 1000,
  grpc: undefined,
  storedMessage: undefined,
  methods: undefined,
});

test('longest prefix wins, on segment boundaries only', () => {
  const match = createRouter([route('/api', 'a'), route('/api/users', 'b'), route('/', 'root')]);
  assert.equal(match('/api/users/7?x=1')?.route.service, 'b');
  assert.equal(match('/api/users')?.route.service, 'b');
  assert.equal(match('/api/usersX')?.route.service, 'a');
  assert.equal(match('/apix')?.route.service, 'root');
  assert.equal(match('/api/users/7?x=1')?.upstreamPath, '/api/users/7?x=1');
});

test('no match without a catch-all', () => {
  const match = createRouter([route('/api-commands/users', 'users-commands')]);
  assert.equal(match('/api-commands/user'), undefined);
  assert.equal(match('/'), undefined);
});

test('rewrite replaces the prefix and keeps the rest and the query', () => {
  const match = createRouter([route('/api/ventas', 'sales', '/ventas'), route('/calc', 'calc', '/')]);
  assert.equal(match('/api/ventas/3?minSeq=2')?.upstreamPath, '/ventas/3?minSeq=2');
  assert.equal(match('/api/ventas')?.upstreamPath, '/ventas');
  assert.equal(match('/calc/add/1/2')?.upstreamPath, '/add/1/2');
  assert.equal(match('/calc')?.upstreamPath, '/');
});

test('a prefix can go to two services by method', () => {
  const match = createRouter([
    { ...route('/api/venta', 'sales-commands', '/venta'), methods: ['POST'] },
    { ...route('/api/venta', 'sales-queries', '/venta'), methods: ['GET', 'HEAD'] },
  ]);
  assert.equal(match('/api/venta/3', 'POST')?.route.service, 'sales-commands');
  assert.equal(match('/api/venta/3', 'GET')?.route.service, 'sales-queries');
  assert.equal(match('/api/venta/3', 'DELETE'), undefined);
});
