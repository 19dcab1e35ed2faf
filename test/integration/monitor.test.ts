// The ping-echo monitor against real backend processes: a crash (SIGKILL), a hang (SIGSTOP) and a
// replica that is alive but not ready, each seen as the right transitions in the right order; the
// transitions reaching the bus stream and the JSON-lines file; and the feed (the monitor program's
// GET /events) followed across a monitor restart. Detection times are printed, not asserted: the
// bound lives in the benchmark.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { createBus } from '../../src/bus/create-bus.ts';
import type { Closer, Shutdown } from '../../src/kit/shutdown.ts';
import type { Echo } from '../../src/monitor/detector.ts';
import { formatComment, formatEvent } from '../../src/monitor/event-stream.ts';
import { followMonitor } from '../../src/monitor/feed.ts';
import { EVENTS_FILE, monitorProgram } from '../../src/monitor/main.ts';
import { createMonitor, type MonitorTarget } from '../../src/monitor/monitor.ts';
import { busSink, fileSink } from '../../src/monitor/sinks.ts';
import { MONITOR_STREAM, type MonitorSnapshot, type Transition } from '../../src/monitor/types.ts';
import type { ProgramContext } from '../../src/services/program.ts';
import { parseTopology } from '../../src/topology/loader.ts';
import { placementOf, writePlacement } from '../../src/topology/placement.ts';
import { kill, startBackend } from '../helpers/backend.ts';
import { silentLogger } from '../helpers/log.ts';
import { freePort } from '../helpers/ports.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const FAST = { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 };

/** /health answers 200 {"ready":true}, or 503 {"ready":false} while READY_FILE is set and absent. */
const HEALTH_BACKEND = `
const http = require('node:http');
const fs = require('node:fs');
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url !== '/health') return res.end('[]');
  const ready = !process.env.READY_FILE || fs.existsSync(process.env.READY_FILE);
  res.statusCode = ready ? 200 : 503;
  res.end(JSON.stringify({ ready, instance: process.env.NAME }));
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

/** One backend process `sales-queries-1` and a monitor on it; the monitor is closed after the test. */
async function watchOne(
  t: TestContext,
  options: { env?: Record<string, string>; sinks?: Parameters<typeof createMonitor>[0]['sinks'] } = {},
) {
  const port = await freePort();
  const start = () => startBackend(t, 'sales-queries-1', port, HEALTH_BACKEND, options.env);
  let child = await start();
  const transitions: Transition[] = [];
  // Runs once on the next echo that matches, inside the monitor's callback: what it does to the
  // backend happens before any further ping can be sent.
  let onNextEcho: ((echo: Echo, outstanding: number) => boolean) | undefined;
  const target: MonitorTarget = {
    instance: 'sales-queries-1',
    service: 'sales-queries',
    url: `http://127.0.0.1:${port}`,
    settings: FAST,
  };
  const monitor = createMonitor({
    targets: [target],
    log: silentLogger(),
    sinks: options.sinks,
    onTransition: (transition) => transitions.push(transition),
    onEcho: (_target, echo, outstanding) => {
      if (onNextEcho?.(echo, outstanding)) onNextEcho = undefined;
    },
  });
  t.after(() => monitor.close());
  monitor.start();
  return {
    monitor,
    transitions,
    child: () => child,
    restart: async () => {
      child = await start();
    },
    /** Runs `act` right after a ready echo with no other ping outstanding; resolves to Date.now() then. */
    afterReadyEcho: (act: () => void) =>
      new Promise<number>((resolve) => {
        onNextEcho = (echo, outstanding) => {
          if (echo.kind !== 'ready' || outstanding > 0) return false;
          const at = Date.now();
          act();
          resolve(at);
          return true;
        };
      }),
    moves: () => transitions.map((tr) => `${tr.from}→${tr.to}`),
    until: (count: number, what: string) => waitFor(() => transitions.length >= count, { what }),
  };
}

test('SIGKILL: down after two refused echoes sent after the kill; up again once it is back', async (t) => {
  const w = await watchOne(t);
  await w.until(1, 'the instance to be up');
  const child = w.child();
  const killedAt = await w.afterReadyEcho(() => child.kill('SIGKILL'));
  await w.until(2, 'the instance to be down');
  await kill(child);
  await w.restart();
  await w.until(3, 'the instance to be up again');

  assert.deepEqual(w.moves(), ['unknown→up', 'up→down', 'down→up']);
  const down = w.transitions[1]!;
  assert.equal(down.instance, 'sales-queries-1');
  assert.equal(down.service, 'sales-queries');
  assert.equal(down.count, 2);
  assert.equal(down.reason, 'ECONNREFUSED');
  assert.ok(Date.parse(down.firstMissAt!) >= killedAt, `first miss ${down.firstMissAt} after the kill`);
  assert.equal(down.detectionMs, Date.parse(down.time) - Date.parse(down.firstMissAt!));
  assert.deepEqual([w.transitions[2]!.count, w.transitions[2]!.reason], [2, '200 ready']);
  assert.deepEqual(
    w.monitor.snapshot().instances.map((i) => [i.instance, i.state, i.since]),
    [['sales-queries-1', 'up', w.transitions[2]!.time]],
  );
  t.diagnostic(`SIGKILL detected in ${down.detectionMs} ms (${Date.parse(down.time) - killedAt} ms after the kill)`);
});

test('SIGSTOP: down on timeouts, up after SIGCONT', async (t) => {
  const w = await watchOne(t);
  await w.until(1, 'the instance to be up');
  const child: ChildProcess = w.child();
  t.after(() => child.kill('SIGCONT'));
  const stoppedAt = await w.afterReadyEcho(() => child.kill('SIGSTOP'));
  await w.until(2, 'the instance to be down');
  child.kill('SIGCONT');
  await w.until(3, 'the instance to be up again');

  assert.deepEqual(w.moves(), ['unknown→up', 'up→down', 'down→up']);
  const down = w.transitions[1]!;
  assert.equal(down.count, 2);
  assert.equal(down.reason, 'timeout after 50 ms');
  assert.ok(Date.parse(down.firstMissAt!) >= stoppedAt);
  t.diagnostic(`SIGSTOP detected in ${down.detectionMs} ms (${Date.parse(down.time) - stoppedAt} ms after the stop)`);
});

test('alive but not ready: syncing at once, up after two ready answers, syncing again when it falls behind', async (t) => {
  const readyFile = path.join(tmpDir(t), 'ready');
  const w = await watchOne(t, { env: { READY_FILE: readyFile } });
  await w.until(1, 'the instance to be syncing');
  await writeFile(readyFile, '');
  await w.until(2, 'the instance to be up');
  await rm(readyFile);
  await w.until(3, 'the instance to be syncing again');

  assert.deepEqual(w.moves(), ['unknown→syncing', 'syncing→up', 'up→syncing']);
  assert.deepEqual(
    w.transitions.map((tr) => [tr.count, tr.reason, tr.firstMissAt, tr.detectionMs]),
    [
      [1, '503 not ready', null, null],
      [2, '200 ready', null, null],
      [1, '503 not ready', null, null],
    ],
  );
});

test('every transition reaches the bus stream and the JSON-lines file, in order', async (t) => {
  const dir = tmpDir(t);
  const bus = await createBus(`sqlite:${dir}/bus.db`);
  t.after(() => bus.close());
  const log = silentLogger();
  const file = path.join(dir, EVENTS_FILE);
  const w = await watchOne(t, { sinks: [busSink(bus, { log }), await fileSink(file, { log })] });
  await w.until(1, 'the instance to be up');
  await kill(w.child());
  await w.until(2, 'the instance to be down');
  await w.restart();
  await w.until(3, 'the instance to be up again');
  await w.monitor.close();

  assert.deepEqual(w.moves(), ['unknown→up', 'up→down', 'down→up']);
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => JSON.parse(line)),
    w.transitions,
  );
  const events = await bus.read(MONITOR_STREAM);
  assert.deepEqual(
    events.map((e) => e.type),
    ['instance.up', 'instance.down', 'instance.up'],
  );
  assert.deepEqual(
    events.map((e) => e.data),
    w.transitions,
  );
  assert.equal(new Set(events.map((e) => e.id)).size, 3);
});

/** The monitor program in this process, as `archlab run monitor` would start it; stop() runs its closers. */
async function startMonitorProgram(t: TestContext, dataDir: string, port: number) {
  const closers: { name: string; closer: Closer }[] = [];
  const shutdown: Shutdown = {
    add: (name, closer) => closers.push({ name, closer }),
    run: async () => {},
  };
  const stop = async () => {
    for (const { closer } of closers.splice(0).toReversed()) await closer();
  };
  t.after(stop);
  const topology = parseTopology(
    `monitor: { intervalMs: 1000, timeoutMs: 500, failureThreshold: 3, successThreshold: 2 }
services:
  sales-queries: { instances: 1, monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 } }
`,
    { dataDir, env: {} },
  );
  const ctx: ProgramContext = {
    service: { ...topology.services[0]!, name: 'monitor', program: 'monitor' },
    instance: 'monitor',
    host: '127.0.0.1',
    port,
    topology,
    dataDir,
    log: silentLogger(),
    adminToken: undefined,
    shutdown,
  };
  const { url } = await monitorProgram(ctx);
  return { url, stop };
}

test('the feed: snapshot, then transitions; after a monitor restart a fresh snapshot', async (t) => {
  const dataDir = tmpDir(t);
  const backendPort = await freePort();
  await startBackend(t, 'sales-queries-1', backendPort, HEALTH_BACKEND);
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  await writePlacement(
    dataDir,
    placementOf([{ name: 'sales-queries-1', service: 'sales-queries', url: backendUrl, spare: false }], null),
  );
  const port = await freePort();
  const first = await startMonitorProgram(t, dataDir, port);

  const received: (
    | { kind: 'snapshot'; snapshot: MonitorSnapshot }
    | { kind: 'transition'; transition: Transition }
    | { kind: 'disconnected' }
  )[] = [];
  const feed = followMonitor(
    first.url,
    {
      snapshot: (snapshot) => received.push({ kind: 'snapshot', snapshot }),
      transition: (transition) => received.push({ kind: 'transition', transition }),
      disconnected: () => received.push({ kind: 'disconnected' }),
    },
    { log: silentLogger(), retryBaseMs: 20, retryMaxMs: 200 },
  );
  t.after(() => feed.close());
  const kinds = () => received.map((r) => (r.kind === 'transition' ? `transition:${r.transition.to}` : r.kind));
  await waitFor(() => kinds().includes('transition:up'), { what: 'the up transition on the feed' });
  assert.equal(kinds()[0], 'snapshot');
  const snapshot = (received[0] as { snapshot: MonitorSnapshot }).snapshot;
  assert.deepEqual(
    snapshot.instances.map(({ instance, service, url }) => ({ instance, service, url })),
    [{ instance: 'sales-queries-1', service: 'sales-queries', url: backendUrl }],
  );
  const up = received.find((r) => r.kind === 'transition')!;
  assert.equal(up.kind === 'transition' && up.transition.instance, 'sales-queries-1');
  const upTime = up.kind === 'transition' ? Date.parse(up.transition.time) : Number.NaN;

  // The program's other outputs: /instances, /metrics, the JSON-lines file and the bus stream.
  const instances = (await (await fetch(`${first.url}/instances`)).json()) as MonitorSnapshot;
  assert.deepEqual(
    instances.instances.map((i) => [i.instance, i.state]),
    [['sales-queries-1', 'up']],
  );
  const metrics = await (await fetch(`${first.url}/metrics`)).text();
  assert.match(
    metrics,
    /archlab_monitor_pings_total\{[^}]*instance="sales-queries-1"[^}]*outcome="ready"[^}]*\} [1-9]/,
  );
  assert.match(metrics, /archlab_monitor_instance_up\{[^}]*instance="sales-queries-1"[^}]*\} 1/);
  assert.match(metrics, /archlab_monitor_transitions_total\{[^}]*instance="sales-queries-1"[^}]*to="up"[^}]*\} 1/);
  await waitFor(
    async () => (await readFile(path.join(dataDir, EVENTS_FILE), 'utf8').catch(() => '')).includes('"to":"up"'),
    {
      what: 'the events file',
    },
  );

  await first.stop();
  const bus = await createBus(`sqlite:${dataDir}/bus.db`);
  t.after(() => bus.close());
  assert.deepEqual(
    (await bus.read(MONITOR_STREAM)).map((e) => e.type),
    ['instance.up'],
  );
  await waitFor(() => kinds().includes('disconnected'), { what: 'the feed to notice the monitor is gone' });
  const before = received.length;
  await startMonitorProgram(t, dataDir, port);
  await waitFor(() => received.slice(before).some((r) => r.kind === 'snapshot'), { what: 'a fresh snapshot' });

  const order = kinds();
  assert.deepEqual(order.slice(0, order.indexOf('disconnected') + 1), ['snapshot', 'transition:up', 'disconnected']);
  const fresh = received.slice(before).find((r) => r.kind === 'snapshot')!;
  const freshView = fresh.kind === 'snapshot' ? fresh.snapshot.instances[0]! : undefined;
  assert.equal(freshView?.instance, 'sales-queries-1');
  assert.ok(Date.parse(freshView!.since) > upTime, 'the snapshot comes from the restarted monitor');
  assert.equal(order.filter((k) => k === 'disconnected').length, 1, 'one outage, one disconnected call');
});

test('the feed reconnects when the connection goes silent (no keep-alive comment)', async (t) => {
  let connections = 0;
  const server = http.createServer((req, res) => {
    connections++;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(formatEvent('snapshot', { instances: [] }));
    // The first connection keeps talking in comments only until it stops altogether, like a hung monitor.
    if (connections === 1) res.write(formatComment('ping'));
    req.on('close', () => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let snapshots = 0;
  const errors: string[] = [];
  const feed = followMonitor(
    url,
    {
      snapshot: () => snapshots++,
      transition: () => assert.fail('no transition was sent'),
      disconnected: (error) => errors.push(error.message),
    },
    { log: silentLogger(), idleTimeoutMs: 200, retryBaseMs: 10 },
  );
  t.after(() => feed.close());
  await waitFor(() => snapshots >= 2, { what: 'a second snapshot after the silent connection was dropped' });
  assert.match(errors[0]!, /no data from the monitor feed for 200 ms/);
});

test('the feed stops on close and on its abort signal, and retries a refused connection until then', async (t) => {
  const port = await freePort();
  const controller = new AbortController();
  const errors: string[] = [];
  let snapshots = 0;
  followMonitor(
    `http://127.0.0.1:${port}`,
    { snapshot: () => snapshots++, transition: () => {}, disconnected: (error) => errors.push(String(error)) },
    { log: silentLogger(), signal: controller.signal, retryBaseMs: 10, retryMaxMs: 20 },
  );
  await waitFor(() => errors.length === 1, { what: 'the refused connection' });
  // Now a monitor appears on that port: the retries find it.
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(formatEvent('snapshot', { instances: [] }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  await waitFor(() => snapshots === 1, { what: 'the snapshot once the server is up' });
  assert.equal(errors.length, 1, 'failed retries during one outage are not reported again');
  controller.abort();
  const open = () =>
    new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
  await waitFor(async () => (await open()) === 0, { what: 'the feed to hang up' });
  assert.equal(snapshots, 1);
});
