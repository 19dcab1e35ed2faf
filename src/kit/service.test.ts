import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger } from './logger.ts';
import { createService } from './service.ts';

function quietService(options: { adminToken?: string; ready?: boolean } = {}) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  const service = createService({
    service: 'demo-commands',
    instance: 'demo-commands-1',
    role: 'command',
    log: createLogger({ destination }),
    bodyLimitBytes: 1024,
    adminToken: options.adminToken,
    readiness: () => ({ ready: options.ready ?? true, position: 7 }),
  });
  service.app.post('/things', {
    schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } } },
    handler: async (request) => ({ ok: true, traceId: request.trace.traceId, parent: request.trace.parentSpanId }),
  });
  return { service, app: service.app, lines };
}

describe('createService: one error body for every 4xx/5xx', () => {
  test('unknown route → 404 not_found', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: { code: 'not_found', message: 'no route for GET /nope' } });
  });

  test('malformed JSON → 400 invalid_json', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'invalid_json');
  });

  test('schema violation → 400 validation_failed naming the field', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: '' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'validation_failed');
    assert.match(res.json().error.message, /name/);
  });

  test('body over the limit → 413 payload_too_large', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x'.repeat(2000) } });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'payload_too_large');
  });

  test('unsupported content type → 415 unsupported_media_type', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().error.code, 'unsupported_media_type');
  });
});

describe('createService: health, metrics, tracing', () => {
  test('/health names the instance and answers 503 while syncing', async (t) => {
    const { app } = quietService({ ready: false });
    t.after(() => app.close());
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 503);
    const body = res.json();
    assert.equal(body.status, 'syncing');
    assert.equal(body.instance, 'demo-commands-1');
    assert.equal(body.role, 'command');
    assert.equal(body.position, 7);
    assert.equal(typeof body.uptimeMs, 'number');
  });

  test('/metrics is Prometheus text with the request histogram', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    await app.inject({ method: 'POST', url: '/things', payload: { name: 'a' } });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/plain/);
    assert.match(res.body, /archlab_http_request_duration_seconds_count\{[^}]*route="\/things"[^}]*\} 1/);
  });

  test('request id is echoed and traceparent continued into the log line', async (t) => {
    const { app, lines } = quietService();
    t.after(() => app.close());
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'x-request-id': 'req-42', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      payload: { name: 'a' },
    });
    assert.equal(res.headers['x-request-id'], 'req-42');
    assert.equal(res.json().traceId, traceId);
    assert.equal(res.json().parent, '00f067aa0ba902b7');
    const logged = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request');
    assert.equal(logged.reqId, 'req-42');
    assert.equal(logged.traceId, traceId);
  });
});

describe('createService: admin routes', () => {
  test('need the token; set and clear faults', async (t) => {
    const { app, service } = quietService({ adminToken: 'sekrit' });
    t.after(() => app.close());
    assert.equal((await app.inject({ method: 'GET', url: '/_admin/faults' })).statusCode, 401);
    const wrong = await app.inject({ method: 'GET', url: '/_admin/faults', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error.code, 'unauthorized');
    const auth = { authorization: 'Bearer sekrit' };
    const set = await app.inject({ method: 'PUT', url: '/_admin/faults/relay.paused', headers: auth, payload: {} });
    assert.equal(set.statusCode, 200);
    assert.equal(service.faults.isOn('relay.paused'), true);
    await app.inject({ method: 'DELETE', url: '/_admin/faults/relay.paused', headers: auth });
    assert.equal(service.faults.isOn('relay.paused'), false);
  });

  test('are absent without a token', async (t) => {
    const { app } = quietService();
    t.after(() => app.close());
    assert.equal((await app.inject({ method: 'GET', url: '/_admin/faults' })).statusCode, 404);
  });
});

describe('createService: request-level faults', () => {
  test('http.error-rate 1 answers 500 fault_injected, http.delay-ms delays; health and admin never', async (t) => {
    const { service, app } = quietService({ adminToken: 'secret' });
    t.after(() => app.close());
    const auth = { authorization: 'Bearer secret' };
    const put = (name: string, value: number) =>
      app.inject({ method: 'PUT', url: `/_admin/faults/${name}`, headers: auth, payload: { value } });
    assert.equal((await put('http.error-rate', 1)).statusCode, 200);
    const failed = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x' } });
    assert.equal(failed.statusCode, 500);
    assert.equal(failed.json().error.code, 'fault_injected');
    assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'health is not faulted');
    assert.equal((await app.inject({ method: 'GET', url: '/_admin/faults', headers: auth })).statusCode, 200);
    await app.inject({ method: 'DELETE', url: '/_admin/faults/http.error-rate', headers: auth });

    assert.equal((await put('http.delay-ms', 120)).statusCode, 200);
    const started = performance.now();
    const slow = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x' } });
    assert.equal(slow.statusCode, 200);
    assert.ok(performance.now() - started >= 119, 'at least the injected delay (a lower bound only)');
    assert.equal(Number(service.faults.get('http.delay-ms')), 120);
  });
});
