// The lab end to end: `archlab experiment run` starts a real system, drives an open-model load,
// kills the principal replica on schedule, and writes a report whose figures agree exactly with an
// independent count over the raw per-request log and the fault times it contains.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { SpanLine } from '../../src/kit/spans.ts';
import type { Report } from '../../src/lab/report/index.ts';
import { CLI } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';

const SALES_TOPOLOGY = new URL('../../experiments/topologies/sales.yaml', import.meta.url).pathname;

const archlab = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error' },
  });

/** Writes the experiment, runs it (expecting exit 0) and returns its report folder and report.json. */
function runExperiment(t: TestContext, yaml: string) {
  const dir = tmpDir(t, 'archlab-lab-');
  const file = path.join(dir, 'experiment.yaml');
  writeFileSync(file, yaml);
  const out = path.join(dir, 'reports');
  const result = archlab('experiment', 'run', file, '--out', out);
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  const [folder] = readdirSync(out);
  const reportDir = path.join(out, folder!);
  const report = JSON.parse(readFileSync(path.join(reportDir, 'report.json'), 'utf8')) as Report;
  return { result, reportDir, report };
}

test('an experiment run: report files, verdict, and figures equal to an independent count', (t) => {
  const { result, reportDir, report } = runExperiment(
    t,
    `name: short-kill
topology: ${SALES_TOPOLOGY}
setup:
  - method: POST
    path: /api/vendedor
    body: { nombre: Ana, apellido: Pérez, tipo_documento: CEDULA, numero_documento: "1", telefono: "3001234567" }
load:
  - { name: reads, rate: 100, duration: 4s, timeout: 2s, request: { method: GET, path: /api/ventas } }
faults:
  - { at: 1500ms, action: kill, target: sales-queries-1, hold: true }
  - { at: 3s, action: restart, target: sales-queries-1 }
settle: 500ms
hypothesis:
  availability: { overall: 0.99 }
  detectionMs: 1000
`,
  );
  assert.match(result.stdout, /holds +\[baseline\] availability/);
  for (const name of ['report.json', 'report.md', 'report.html'])
    assert.ok(existsSync(path.join(reportDir, name)), name);
  const [variant] = report.variants;
  const { run, metrics } = variant!;

  // Independent count over the raw log: 4 s at 100 req/s is 400 requests, every one recorded.
  assert.equal(run.requests.length, 400);
  let ok = 0;
  for (const request of run.requests) if (request.status >= 200 && request.status < 400) ok++;
  assert.equal(metrics.availability.overall, ok / run.requests.length);
  assert.equal(ok, run.requests.length, 'active redundancy masked the crash');

  // Detection: the first DOWN of the killed instance at or after the fault, from the raw transitions.
  const kill = run.faults.find((f) => f.action === 'kill')!;
  assert.ok(kill.ok);
  const down = run.transitions
    .filter((e) => e.instance === 'sales-queries-1' && e.to === 'down' && Date.parse(e.time) >= kill.at)
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))[0]!;
  const outcome = metrics.faults.find((f) => f.action === 'kill')!;
  assert.equal(outcome.detectionMs, Date.parse(down.time) - kill.at);
  // Whether the generator kept up depends on the machine's load (tests run two at a time): the
  // starvation rule itself is unit-tested in src/lab/load; here the report must carry the figures.
  assert.ok(Number.isFinite(run.generator.lagP99Ms) && typeof run.generator.starved === 'boolean');

  const html = readFileSync(path.join(reportDir, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /kill sales-queries-1/);
  const md = readFileSync(path.join(reportDir, 'report.md'), 'utf8');
  const again = archlab('report', reportDir);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readFileSync(path.join(reportDir, 'report.md'), 'utf8'), md, 're-rendered byte for byte');
});

test('a bad experiment file exits 2 naming the line; a failing hypothesis exits 1', (t) => {
  const dir = tmpDir(t, 'archlab-lab-');
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'name: bad\nload:\n  - { name: reads, rate: 100, request: { method: GET, path: /x } }\n');
  const result = archlab('experiment', 'run', bad, '--out', path.join(dir, 'reports'));
  assert.equal(result.status, 2);
  assert.match(result.stderr, /bad\.yaml:3:\d+ load\.0: a constant stream needs both rate and duration/);
  const missing = archlab('report', dir);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /holds no report\.json/);

  const strict = path.join(dir, 'strict.yaml');
  writeFileSync(
    strict,
    `name: strict
topology: ${SALES_TOPOLOGY}
load:
  - { name: reads, rate: 50, duration: 1s, request: { method: GET, path: /api/ventas } }
settle: 0ms
hypothesis:
  latencyMs: { max: 0 }
`,
  );
  const failing = archlab('experiment', 'run', strict, '--out', path.join(dir, 'reports'));
  assert.equal(failing.status, 1, `${failing.stdout}\n${failing.stderr}`);
  assert.match(failing.stdout, /FAILS +\[baseline\] latency/);
});

test('request faults: errors injected on the principal replica are masked by retries and ejection, then cleared', (t) => {
  const { report } = runExperiment(
    t,
    `name: injected-errors
topology: ${SALES_TOPOLOGY}
load:
  - { name: reads, rate: 100, duration: 3s, request: { method: GET, path: /api/ventas } }
faults:
  - { at: 1s, action: errors, target: sales-queries-1, value: 1 }
  - { at: 2s, action: clear, target: sales-queries-1 }
settle: 0ms
hypothesis:
  availability: { overall: 1 }
`,
  );
  const { run } = report.variants[0]!;
  assert.deepEqual(
    run.faults.map((f) => [f.action, f.ok]),
    [
      ['errors', true],
      ['clear', true],
    ],
  );
  assert.ok(run.counters.archlab_gateway_retries_total! > 0, 'the 500s were retried on another replica');
  assert.ok(run.requests.every((r) => r.status === 200));
});

test('commands traced end to end: hop timings, projections and command→query lag from the spans the system wrote', (t) => {
  const { reportDir, report } = runExperiment(
    t,
    `name: traced-sales
topology: ${SALES_TOPOLOGY}
setup:
  - method: POST
    path: /api/vendedor
    body: { nombre: Ana, apellido: Pérez, tipo_documento: CEDULA, numero_documento: "1", telefono: "3001234567" }
    capture: seller
load:
  - name: sales
    rate: 50
    duration: 2s
    request: { method: POST, path: "/api/venta/{seller}", command: true, body: { producto: cafe, cantidad: 1, cliente: Sol } }
    verify: { path: "/api/venta/{id}", expect: { producto: cafe } }
settle: 300ms
hypothesis:
  lostCommands: 0
  commandToQueryLagMs: 5000
`,
  );
  const { run, metrics } = report.variants[0]!;
  assert.equal(run.requests.length, 100);
  const commands = metrics.commands!;
  assert.equal(commands.accepted, 100);
  assert.equal(commands.persisted, 100);
  assert.equal(commands.lost, 0);
  assert.equal(commands.duplicates, 0);

  // Independently of the report's code: every request's chain in the raw span files, and the lag.
  const spansDir = path.join(reportDir, 'variants', 'baseline', 'data', 'spans');
  const spans = readdirSync(spansDir).flatMap((name) =>
    readFileSync(path.join(spansDir, name), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as SpanLine),
  );
  const nanos = (value: string) => Number(BigInt(value) / 1000n) / 1000; // µs precision is enough here
  const lags: number[] = [];
  for (const request of run.requests) {
    const trace = spans.filter((s) => s.traceId === request.traceId);
    const one = (kind: string, name: RegExp, parent: string | undefined) => {
      const found = trace.filter((s) => s.kind === kind && name.test(s.name) && s.parentSpanId === parent);
      assert.equal(found.length, 1, `${request.traceId}: one ${kind} ${name} under ${parent}`);
      return found[0]!;
    };
    const gateway = one('SERVER', /^POST \/api\/venta$/, request.traceId!.slice(16));
    const attempt = one('CLIENT', /^try sales-commands-1$/, gateway.spanId);
    const handler = one('SERVER', /^POST \/venta\//, attempt.spanId);
    const commit = one('INTERNAL', /^store commit$/, handler.spanId);
    one('PRODUCER', /^bus append sales$/, handler.spanId);
    const projections = trace.filter((s) => s.kind === 'CONSUMER' && s.parentSpanId === handler.spanId);
    assert.deepEqual(
      projections.map((s) => s.resource['service.instance.id']).sort(),
      ['sales-queries-1', 'sales-queries-2', 'sales-queries-3'],
      'each replica applied the sale once',
    );
    const projected = Math.min(...projections.map((s) => nanos(s.endTimeUnixNano)));
    lags.push(projected - nanos(commit.endTimeUnixNano));
  }
  assert.equal(commands.projected, 100);
  lags.sort((a, b) => a - b);
  assert.ok(Math.abs(commands.lagP50Ms! - lags[49]!) < 0.01, `lag p50 ${commands.lagP50Ms} vs ${lags[49]}`);
  assert.ok(Math.abs(commands.lagP99Ms! - lags[98]!) < 0.01, `lag p99 ${commands.lagP99Ms} vs ${lags[98]}`);
  const hops = new Map(metrics.hops.map((h) => [h.hop, h]));
  for (const hop of [
    'client → gateway',
    'gateway → service',
    'service → store commit',
    'store → bus',
    'bus → read model',
  ]) {
    assert.equal(hops.get(hop)?.count, 100, hop);
  }
  const md = readFileSync(path.join(reportDir, 'report.md'), 'utf8');
  assert.match(md, /\| store → bus \| 100 \|/);
  assert.match(md, /100 projected, 0 dead-lettered, 0 lost, 0 duplicates/);
});
