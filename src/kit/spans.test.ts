import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  currentSpan,
  fromNanos,
  lineText,
  type SpanLine,
  startSpanFile,
  toLine,
  toNanos,
  withinCurrentSpan,
  withSpan,
} from './spans.ts';
import { continueTrace } from './trace.ts';

const PARENT = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), sampled: true };

async function readLines(file: string): Promise<SpanLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SpanLine);
}

async function withSpanFile(run: (dir: string, file: string) => Promise<void>, otlpEndpoint?: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'archlab-spans-'));
  const tracer = startSpanFile({ dataDir: dir, service: 'users-commands', instance: 'users-commands-1', otlpEndpoint });
  try {
    await run(dir, path.join(dir, 'spans', 'users-commands-1.jsonl'));
  } finally {
    await tracer.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('nanosecond strings round-trip epoch milliseconds to the microsecond', () => {
  for (const ms of [0, 1, 1_795_499_334_909.018_8, 1_700_000_000_000.5]) {
    assert.ok(Math.abs(fromNanos(toNanos(ms)) - ms) < 0.001, String(ms));
  }
  assert.equal(toNanos(1.5), '1500000');
  assert.equal(toNanos(0.9999999), '1000000');
});

test('the hand-built line is the JSON of the span line', () => {
  const resource = { 'service.name': 'gateway', 'service.instance.id': 'gateway' };
  const span = {
    traceId: 'a'.repeat(32),
    spanId: 'c'.repeat(16),
    parentSpanId: 'b'.repeat(16),
    name: 'POST /api/"venta"',
    kind: 'SERVER' as const,
    startMs: 1_795_499_334_909.25,
    endMs: 1_795_499_334_911.5,
    attributes: { 'http.route': '/api/venta', 'http.response.status_code': 201 },
  };
  for (const variant of [span, { ...span, parentSpanId: undefined, error: 'HTTP "503"' }]) {
    assert.deepEqual(JSON.parse(lineText(variant, JSON.stringify(resource))), toLine(variant, resource));
  }
});

test('a span under a sampled parent is written with its parent, times and the current-span context', async () => {
  await withSpanFile(async (_dir, file) => {
    let inner: string | undefined;
    const result = await withSpan(PARENT, 'store commit', 'INTERNAL', { 'db.system': 'sqlite' }, async (span) => {
      inner = currentSpan()?.spanId;
      assert.equal(inner, span?.spanId);
      await sleep(5);
      return 42;
    });
    assert.equal(result, 42);
    assert.equal(currentSpan(), undefined);
    await assert.rejects(
      withSpan(PARENT, 'failing', 'INTERNAL', {}, async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    await withSpan({ ...PARENT, sampled: false }, 'unsampled', 'INTERNAL', {}, async () => undefined);
    await withSpan(undefined, 'no parent', 'INTERNAL', {}, async () => undefined);
    const flushed = await flushAndRead(file);
    assert.deepEqual(
      flushed.map((line) => line.name),
      ['store commit', 'failing'],
    );
    const [commit, failing] = flushed;
    assert.equal(commit!.traceId, PARENT.traceId);
    assert.equal(commit!.parentSpanId, PARENT.spanId);
    assert.equal(commit!.spanId, inner);
    assert.equal(commit!.kind, 'INTERNAL');
    assert.deepEqual(commit!.status, { code: 'OK' });
    assert.deepEqual(commit!.resource, { 'service.name': 'users-commands', 'service.instance.id': 'users-commands-1' });
    assert.ok(fromNanos(commit!.endTimeUnixNano) - fromNanos(commit!.startTimeUnixNano) >= 4);
    assert.deepEqual(failing!.status, { code: 'ERROR', message: 'boom' });
  });
});

async function flushAndRead(file: string) {
  // The writer flushes every 200 ms; poll with a deadline rather than guess.
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = await readLines(file);
    if (lines.length > 0 || Date.now() > deadline) return lines;
    await sleep(20);
  }
}

test('withinCurrentSpan parents calls made inside a delivery span on that span', async () => {
  await withSpanFile(async () => {
    const trace = continueTrace({ traceparent: `00-${PARENT.traceId}-${PARENT.spanId}-01` });
    assert.equal(withinCurrentSpan(trace), trace);
    await withSpan(PARENT, 'consume', 'CONSUMER', {}, async (span) => {
      assert.equal(withinCurrentSpan(trace).spanId, span!.spanId);
      const other = continueTrace({});
      assert.equal(withinCurrentSpan(other), other, 'another trace keeps its own span');
    });
  });
});

test('spans are exported over OTLP/HTTP JSON when an endpoint is configured', async () => {
  const received: unknown[] = [];
  const collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ url: req.url, type: req.headers['content-type'], body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  try {
    await withSpanFile(async () => {
      await withSpan(PARENT, 'bus append users', 'PRODUCER', { 'archlab.seq': 7, ratio: 0.5 }, async () => undefined);
      const deadline = Date.now() + 5000;
      while (received.length === 0 && Date.now() < deadline) await sleep(20);
    }, endpoint);
  } finally {
    collector.close();
  }
  assert.equal(received.length, 1);
  const { url, type, body } = received[0] as { url: string; type: string; body: any };
  assert.equal(url, '/v1/traces');
  assert.equal(type, 'application/json');
  const resource = body.resourceSpans[0].resource.attributes;
  assert.deepEqual(resource, [
    { key: 'service.name', value: { stringValue: 'users-commands' } },
    { key: 'service.instance.id', value: { stringValue: 'users-commands-1' } },
  ]);
  const span = body.resourceSpans[0].scopeSpans[0].spans[0];
  assert.equal(span.kind, 4);
  assert.equal(span.name, 'bus append users');
  assert.equal(span.parentSpanId, PARENT.spanId);
  assert.match(span.startTimeUnixNano, /^\d{19}$/);
  assert.deepEqual(span.attributes, [
    { key: 'archlab.seq', value: { intValue: '7' } },
    { key: 'ratio', value: { doubleValue: 0.5 } },
  ]);
});

test('a span file past its size limit is rotated once, keeping disk use bounded', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'archlab-spans-'));
  const tracer = startSpanFile({ dataDir: dir, service: 'gateway', instance: 'gateway', maxFileBytes: 2000 });
  try {
    for (let i = 0; i < 40; i++) {
      await withSpan(PARENT, `span ${i}`, 'INTERNAL', {}, async () => undefined);
      await tracer.flush(); // one write per span: each write checks the size
    }
  } finally {
    await tracer.close();
  }
  const current = await readLines(path.join(dir, 'spans', 'gateway.jsonl'));
  const previous = await readLines(path.join(dir, 'spans', 'gateway.1.jsonl'));
  await rm(dir, { recursive: true, force: true });
  assert.ok(previous.length > 0, 'rotated');
  assert.ok(current.length + previous.length < 40, 'older files are not kept');
  assert.equal(current.at(-1)!.name, 'span 39');
  // Consecutive: the rotated file ends where the current one starts.
  const last = Number(previous.at(-1)!.name.split(' ')[1]);
  assert.equal(current[0]!.name, `span ${last + 1}`);
});
