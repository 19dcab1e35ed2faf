// The generator against real local HTTP servers (in this process, port 0). Timing assertions are
// one-sided bounds that follow from causality (an answer delayed 20 ms cannot arrive sooner) plus
// generous margins; nothing sleeps to wait for a condition.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { freePort } from '../../kit/ports.ts';
import type { RequestRecord } from '../types.ts';
import { type LoadProgress, type LoadStream, loopbackOrigin, percentile, runLoad } from './generator.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, index: number) => void;

/** A server on 127.0.0.1:0 closed after the test; the request index is the path's last segment. */
async function serve(t: TestContext, handler: Handler): Promise<string> {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    req.resume();
    handler(req, res, Number(url.slice(url.lastIndexOf('/') + 1)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const answer = (res: http.ServerResponse, status = 200, body = '{"ok":true}', headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body);
};

/** Calls `fn` once `ms` have passed by performance.now() (a bare setTimeout may fire a little early). */
function after(ms: number, fn: () => void) {
  const until = performance.now() + ms;
  const check = () => (performance.now() >= until ? fn() : setTimeout(check, Math.max(0, until - performance.now())));
  setTimeout(check, ms);
}

const stream = (name: string, rate: number, durationMs: number, extra: Partial<LoadStream> = {}): LoadStream => ({
  name,
  schedule: { rate, durationMs },
  template: { method: 'GET', path: `/${name}/{{index}}` },
  timeoutMs: 2000,
  ...extra,
});

const sortedLatencies = (records: readonly RequestRecord[]) => Float64Array.from(records, (r) => r.latencyMs).sort();

test('a server answering after 20 ms: p50 latency from the records is at least 20 ms and near it', async (t) => {
  const origin = await serve(t, (_req, res, index) => {
    after(20, () => answer(res, 200, '{}', { 'x-archlab-instance': 'slow-1', 'x-request-id': `r${index}` }));
  });
  const { records, generator } = await runLoad({ origin, streams: [stream('slow', 100, 1000)], runId: 'r', seed: 1 });
  assert.equal(records.length, 100);
  assert.ok(records.every((r) => r.status === 200 && r.error === null && r.instance === 'slow-1'));
  assert.ok(records.every((r) => r.requestId === `r${r.index}`));
  const latencies = sortedLatencies(records);
  const p50 = percentile(latencies, 50);
  assert.ok(p50 >= 20 && p50 < 20 + 80, `p50 ${p50} ms`);
  assert.ok(latencies[0]! >= 20, `min ${latencies[0]} ms`);
  for (const r of records) {
    assert.ok(r.scheduledAt <= r.sentAt && r.sentAt < r.endedAt);
    assert.equal(r.latencyMs, r.endedAt - r.scheduledAt);
  }
  assert.ok(generator.lagP50Ms >= 0);
});

test('a server that stops answering: status 0 "timeout" at the client timeout', async (t) => {
  const held: http.ServerResponse[] = [];
  const origin = await serve(t, (_req, res, index) => (index < 50 ? answer(res) : held.push(res)));
  const timeoutMs = 300;
  const { records } = await runLoad({
    origin,
    streams: [stream('stall', 100, 1000, { timeoutMs })],
    runId: 'r',
    seed: 1,
  });
  assert.equal(records.length, 100);
  for (const r of records) {
    if (r.index < 50) {
      assert.equal(r.status, 200);
      continue;
    }
    assert.equal(r.status, 0);
    assert.equal(r.error, 'timeout');
    const waited = r.endedAt - r.sentAt;
    assert.ok(waited >= timeoutMs && waited < timeoutMs + 200, `request ${r.index} ended after ${waited} ms`);
    assert.ok(r.latencyMs >= timeoutMs);
  }
  assert.equal(held.length, 50);
});

test('coordinated omission stays visible: requests queued behind a stall count the wait', async (t) => {
  // One connection; request 10 (scheduled at 100 ms) is answered 200 ms late, so requests 11.. wait
  // behind it. They are still dispatched on time; their latency, from the schedule, includes the wait.
  const origin = await serve(t, (_req, res, index) => (index === 10 ? after(200, () => answer(res)) : answer(res)));
  const { records } = await runLoad({
    origin,
    streams: [stream('queue', 100, 500)],
    runId: 'r',
    seed: 1,
    connections: 1,
  });
  assert.ok(records.every((r) => r.status === 200));
  for (const r of records.filter((r) => r.index >= 11 && r.index <= 15)) {
    // Request k is scheduled at 10k ms and cannot be answered before request 10 (≥ 300 ms).
    assert.ok(r.latencyMs >= 300 - 10 * r.index - 1, `request ${r.index}: latency ${r.latencyMs} ms`);
    assert.ok(r.sentAt - r.scheduledAt < 50, `request ${r.index} dispatched ${r.sentAt - r.scheduledAt} ms late`);
  }
});

test('a generator blocked on its own event loop reports starved, with the lag', async (t) => {
  const origin = await serve(t, (_req, res) => answer(res));
  const progress: LoadProgress[] = [];
  const { records, generator } = await runLoad({
    origin,
    streams: [stream('busy', 500, 1000)],
    runId: 'r',
    seed: 1,
    progressIntervalMs: 100,
    onProgress(p) {
      progress.push(p);
      const until = performance.now() + 50;
      while (performance.now() < until); // the starvation under test: 50 ms of every ~100
    },
  });
  assert.equal(records.length, 500);
  assert.equal(generator.starved, true);
  assert.ok(generator.lagMaxMs >= 40, `lag max ${generator.lagMaxMs}`);
  assert.ok(generator.lagP99Ms > 5, `lag p99 ${generator.lagP99Ms}`);
  assert.ok(generator.loopDelayP99Ms !== null && generator.loopDelayP99Ms >= 40, `${generator.loopDelayP99Ms}`);
  assert.ok(progress.length >= 5);
  assert.equal(progress.at(-1)!.sent, 500);
  assert.equal(progress.at(-1)!.answered, 500);
});

test('an unblocked generator at a low rate is not starved', async (t) => {
  const origin = await serve(t, (_req, res) => answer(res));
  const { records, generator } = await runLoad({ origin, streams: [stream('calm', 5, 2000)], runId: 'r', seed: 1 });
  assert.equal(records.length, 10);
  assert.equal(generator.starved, false, `lag p99 ${generator.lagP99Ms} ms`);
  assert.ok(generator.lagP50Ms >= 0 && generator.lagMaxMs >= generator.lagP99Ms);
});

test('schedule counts are exact, per stream, with templates, tickets and progress', async (t) => {
  const seen: string[] = [];
  const origin = await serve(t, (req, res, index) => {
    seen.push(req.url!);
    if (req.url!.startsWith('/orders')) answer(res, 202, JSON.stringify({ ticket: `t-${index}` }));
    else answer(res, index % 2 === 0 ? 200 : 500);
  });
  const progress: LoadProgress[] = [];
  const { records } = await runLoad({
    origin,
    streams: [
      stream('steady', 200, 1000),
      {
        name: 'orders',
        schedule: {
          steps: [
            { rate: 50, durationMs: 400 },
            { rate: 100, durationMs: 600 },
          ],
          maxRequests: 70,
        },
        template: { method: 'POST', path: '/orders/{{index}}', body: { email: '{{email}}' }, command: true },
        timeoutMs: 2000,
      },
    ],
    runId: 'counts',
    seed: 3,
    onProgress: (p) => progress.push(p),
  });
  const steady = records.filter((r) => r.stream === 'steady');
  const orders = records.filter((r) => r.stream === 'orders');
  assert.equal(steady.length, 200);
  assert.equal(orders.length, 70);
  assert.equal(seen.length, 270);
  assert.deepEqual(
    steady.map((r) => r.index),
    Array.from({ length: 200 }, (_, i) => i),
  );
  const t0 = steady[0]!.scheduledAt;
  assert.ok(steady.every((r) => Math.abs(r.scheduledAt - t0 - r.index * 5) < 1e-6));
  assert.equal(steady.filter((r) => r.status === 500).length, 100);
  assert.ok(orders.every((r) => r.status === 202 && r.ticket === `t-${r.index}` && r.command && r.method === 'POST'));
  assert.ok(steady.every((r) => r.ticket === null && !r.command));
  const last = progress.at(-1)!;
  assert.deepEqual([last.sent, last.answered, last.errors, last.outstanding], [270, 270, 100, 0]);
});

test('connection failures and aborts end requests with status 0 and the reason', async (t) => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  const refused = await runLoad({ origin: closed, streams: [stream('refused', 50, 100)], runId: 'r', seed: 1 });
  assert.equal(refused.records.length, 5);
  assert.ok(
    refused.records.every((r) => r.status === 0 && r.error === 'ECONNREFUSED'),
    String(refused.records[0]?.error),
  );

  const origin = await serve(t, () => {}); // never answers
  const controller = new AbortController();
  const run = runLoad({
    origin,
    streams: [stream('aborted', 100, 10_000, { timeoutMs: 60_000 })],
    runId: 'r',
    seed: 1,
    signal: controller.signal,
    progressIntervalMs: 50,
    onProgress: (p) => p.sent >= 10 && controller.abort(),
  });
  const { records } = await run;
  assert.ok(records.length >= 10 && records.length < 1000);
  assert.ok(records.every((r) => r.status === 0 && r.error === 'aborted'));
});

test('loopback only: any other origin is refused before anything is sent', async () => {
  for (const origin of ['http://10.0.0.1:80', 'http://example.com', 'https://127.0.0.1:1', 'http://127.0.0.2:80']) {
    await assert.rejects(runLoad({ origin, streams: [stream('x', 1, 1000)], runId: 'r', seed: 1 }), /refused/, origin);
  }
  await assert.rejects(runLoad({ origin: 'http://127.0.0.1:1/api', streams: [], runId: 'r', seed: 1 }), /origin only/);
  for (const origin of ['http://127.0.0.1:8080', 'http://localhost:1', 'http://[::1]:3000']) loopbackOrigin(origin);
});
