// The gateway in front of real HTTP servers on loopback: forwarding, streaming, headers, errors.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { createGateway } from '../../src/gateway/gateway.ts';
import { parseTopology } from '../../src/topology/loader.ts';
import { silentLogger } from '../helpers/log.ts';
import { freePort } from '../helpers/ports.ts';

const silent = silentLogger();

/** An upstream that echoes what it received, as JSON. */
async function echoServer(t: TestContext): Promise<string> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-served-by', String((server.address() as AddressInfo).port));
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startGateway(t: TestContext, placement: Record<string, string[]>, bodyLimitBytes = 1_048_576) {
  const topology = parseTopology(
    `gateway: { bodyLimitBytes: ${bodyLimitBytes} }
services:
  users-commands: { instances: 3 }
  users-queries: { instances: 3, redundancy: { active: { policy: primary-backup } } }
routes:
  - { prefix: /api-commands/users, service: users-commands, timeoutMs: 2000 }
  - { prefix: /api-queries/users, service: users-queries, idempotent: true }
`,
    { dataDir: '/tmp/unused', env: {} },
  );
  const gateway = createGateway({ topology, placement, log: silent, port: 0 });
  const url = await gateway.listen();
  t.after(() => gateway.close());
  return url;
}

describe('gateway forwarding', () => {
  test('forwards method, path, query and body; adds X-Forwarded-For, request id and traceparent', async (t) => {
    const upstream = await echoServer(t);
    const gateway = await startGateway(t, { 'users-commands': [upstream], 'users-queries': [upstream] });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await fetch(`${gateway}/api-commands/users?x=1`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'abc-1',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      body: JSON.stringify({ email: 'a@b.co' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'abc-1');
    const seen = (await res.json()) as { method: string; url: string; body: string; headers: Record<string, string> };
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/api-commands/users?x=1');
    assert.equal(seen.body, '{"email":"a@b.co"}');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-request-id'], 'abc-1');
    const [, forwardedTrace, span] = seen.headers.traceparent!.split('-');
    assert.equal(forwardedTrace, traceId);
    assert.notEqual(span, '00f067aa0ba902b7', 'the gateway is a hop with its own span');
  });

  test('streams a chunked request body of several MiB through unchanged', async (t) => {
    const upstream = await echoServer(t);
    const gateway = await startGateway(t, { 'users-commands': [upstream] }, 8 * 1024 * 1024);
    const piece = 'x'.repeat(64 * 1024);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 48; i++) controller.enqueue(new TextEncoder().encode(piece));
        controller.close();
      },
    });
    const res = await fetch(`${gateway}/api-commands/users`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 200);
    const seen = (await res.json()) as { body: string };
    assert.equal(seen.body.length, 48 * piece.length);
  });

  test('a body over the limit is refused with 413', async (t) => {
    const upstream = await echoServer(t);
    const gateway = await startGateway(t, { 'users-commands': [upstream] }, 1024);
    const res = await fetch(`${gateway}/api-commands/users`, { method: 'POST', body: 'y'.repeat(4096) });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'payload_too_large');
  });
});

describe('gateway pools', () => {
  test('primary-backup (active redundancy) sends all to the first instance; the default spreads round-robin', async (t) => {
    const upstreams = [await echoServer(t), await echoServer(t), await echoServer(t)];
    const gateway = await startGateway(t, { 'users-commands': upstreams, 'users-queries': upstreams });
    const servedBy = async (path: string) => {
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${gateway}${path}`);
        await res.arrayBuffer();
        seen.push(res.headers.get('x-served-by')!);
      }
      return seen;
    };
    const ports = upstreams.map((u) => new URL(u).port);
    assert.deepEqual(await servedBy('/api-queries/users'), Array(6).fill(ports[0]));
    assert.deepEqual(await servedBy('/api-commands/users'), [...ports, ...ports]);
  });
});

describe('gateway errors are JSON', () => {
  test('unknown route → 404 route_not_found', async (t) => {
    const gateway = await startGateway(t, {});
    const res = await fetch(`${gateway}/nowhere`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: { code: 'route_not_found', message: 'no route for GET /nowhere' } });
  });

  test('upstream down → 502 upstream_unreachable', async (t) => {
    const deadPort = await freePort();
    const gateway = await startGateway(t, { 'users-queries': [`http://127.0.0.1:${deadPort}`] });
    const res = await fetch(`${gateway}/api-queries/users`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_unreachable');
  });

  test('service without instances → 503 no_instance', async (t) => {
    const gateway = await startGateway(t, { 'users-queries': [] });
    const res = await fetch(`${gateway}/api-queries/users`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'no_instance');
  });

  test('upstream slower than the route deadline → 504 upstream_timeout', async (t) => {
    const hanging = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      hanging.closeAllConnections();
      return new Promise<void>((resolve) => hanging.close(() => resolve()));
    });
    const origin = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const gateway = await startGateway(t, { 'users-commands': [origin] });
    const res = await fetch(`${gateway}/api-commands/users`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
  });
});
