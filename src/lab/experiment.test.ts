import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { AppError } from '../kit/errors.ts';
import { loadTopology } from '../topology/loader.ts';
import { DEFAULT_TOPOLOGY, isBrokerFault, loadExperiment, parseExperiment, toMs } from './experiment.ts';

const MINIMAL = `name: reads
load:
  - { name: reads, rate: 100, duration: 10s, request: { method: GET, path: /api/ventas } }
`;

test('a minimal file gets every default', () => {
  const experiment = parseExperiment(MINIMAL, '/x/reads.yaml');
  assert.equal(experiment.topology, DEFAULT_TOPOLOGY);
  assert.deepEqual(experiment.load[0], {
    name: 'reads',
    verify: undefined,
    steps: [{ rate: 100, durationMs: 10_000 }],
    arrivals: 'uniform',
    maxRequests: undefined,
    timeoutMs: 2000,
    request: { method: 'GET', path: '/api/ventas', command: false },
  });
  assert.deepEqual(experiment.variants, [{ name: 'baseline', overrides: {} }]);
  assert.deepEqual(experiment.faults, []);
  assert.equal(experiment.settleMs, 2000);
  assert.equal(experiment.broker, undefined, 'the system keeps the bus its topology names');
});

test('broker faults make the lab start its own broker; so does broker: redis alone', () => {
  const experiment = parseExperiment(
    `${MINIMAL}faults:
  - { at: 5s, action: broker-start, target: redis }
  - { at: 2s, action: broker-kill, target: redis }
  - { at: 8s, action: broker-stop, target: redis }
  - { at: 9s, action: broker-start, target: redis }
`,
    '/x/broker.yaml',
  );
  assert.equal(experiment.broker, 'redis');
  assert.deepEqual(
    experiment.faults.map((f) => [f.atMs, f.action, f.target]),
    [
      [2000, 'broker-kill', 'redis'],
      [5000, 'broker-start', 'redis'],
      [8000, 'broker-stop', 'redis'],
      [9000, 'broker-start', 'redis'],
    ],
  );
  assert.equal(parseExperiment(`${MINIMAL}broker: redis\n`, null).broker, 'redis');
});

test('issue 7: broker faults name the broker, take no hold or value, and fit its state in time order', () => {
  const text = `${MINIMAL}faults:
  - { at: 1s, action: broker-kill, target: sales-queries-1 }
  - { at: 2s, action: broker-start, target: redis, hold: true }
  - { at: 3s, action: broker-start, target: redis }
  - { at: 4s, action: broker-stop, target: redis }
  - { at: 5s, action: broker-kill, target: redis }
broker: rabbitmq
`;
  assert.throws(
    () => parseExperiment(text, '/x/broker.yaml'),
    (error: Error) => {
      for (const expected of [
        /^\/x\/broker\.yaml:5:\d+ faults\.0\.target: broker faults target the broker: redis$/m,
        /^\/x\/broker\.yaml:6:\d+ faults\.1: broker-start takes no hold or value$/m,
        /^\/x\/broker\.yaml:7:\d+ faults\.2: broker-start at 3s: the broker is running then$/m,
        /^\/x\/broker\.yaml:9:\d+ faults\.4: broker-kill at 5s: the broker is already down \(broker-stop at 4s\)$/m,
        /^\/x\/broker\.yaml:10:\d+ broker: must be one of: redis \(got "rabbitmq"\)$/m,
      ]) {
        assert.match(error.message, expected);
      }
      return true;
    },
  );
});

test('faults are sorted by time, durations in any unit, topology relative to the file, POST is a command', () => {
  const experiment = parseExperiment(
    `name: kill
topology: ../topologies/sales.yaml
faults:
  - { at: 12s, action: restart, target: sales-queries-1 }
  - { at: 5000, action: kill, target: sales-queries-1, hold: true }
load:
  - name: writes
    steps: [{ rate: 10, duration: 500ms }, { rate: 20, duration: 1.5s }]
    request: { method: POST, path: /api/venta/1, body: { producto: "{{uuid}}" } }
variants:
  - { name: active, overrides: { services: { sales-queries: { instances: 3 } } } }
  - { name: single }
`,
    '/x/experiments/kill.yaml',
  );
  assert.equal(experiment.topology, '/x/topologies/sales.yaml');
  assert.deepEqual(
    experiment.faults.map((f) => [f.atMs, f.action, f.hold]),
    [
      [5000, 'kill', true],
      [12_000, 'restart', false],
    ],
  );
  assert.deepEqual(experiment.load[0]!.steps, [
    { rate: 10, durationMs: 500 },
    { rate: 20, durationMs: 1500 },
  ]);
  assert.equal(experiment.load[0]!.request.command, true);
  assert.deepEqual(
    experiment.variants.map((v) => v.name),
    ['active', 'single'],
  );
  assert.equal(toMs('2m'), 120_000);
});

test('every problem at once, each with its line', () => {
  const text = `name: Bad Name
load:
  - { name: reads, rate: 100, request: { method: GET, path: /x } }
  - { name: both, rate: 1, duration: 1s, steps: [{ rate: 1, duration: 1s }], request: { method: GET, path: /x } }
faults:
  - { at: soon, action: explode, target: x }
  - { at: 1s, action: delay, target: x }
  - { at: 2s, action: errors, target: x, value: 2 }
variants: [{ name: a }, { name: a }]
hypothesis: { availability: { overall: 1.5 } }
`;
  try {
    parseExperiment(text, '/x/bad.yaml');
    assert.fail('should throw');
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'config_invalid');
    const lines = error.message.split('\n');
    for (const expected of [
      /^\/x\/bad\.yaml:1:\d+ name: /,
      /^\/x\/bad\.yaml:3:\d+ load\.0: a constant stream needs both rate and duration/,
      /^\/x\/bad\.yaml:4:\d+ load\.1: give either rate and duration, or steps/,
      /^\/x\/bad\.yaml:6:\d+ faults\.0\.action: must be one of: kill, hang, resume, restart, delay, errors, clear/,
      /^\/x\/bad\.yaml:7:\d+ faults\.1: delay needs a value/,
      /^\/x\/bad\.yaml:8:\d+ faults\.2\.value: errors takes a share from 0 to 1/,
      /^\/x\/bad\.yaml:9:\d+ variants\.1\.name: duplicate variant name "a"/,
      /^\/x\/bad\.yaml:10:\d+ hypothesis\.availability\.overall: must be at most 1/,
    ]) {
      assert.ok(
        lines.some((line) => expected.test(line)),
        `${expected} in:\n${error.message}`,
      );
    }
  }
});

test('every bundled experiment parses, and its topology loads', async () => {
  const dir = new URL('../../experiments/', import.meta.url).pathname;
  const files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));
  assert.ok(files.length >= 4);
  for (const name of files) {
    const experiment = await loadExperiment(path.join(dir, name));
    const topology = await loadTopology(experiment.topology, { dataDir: '/tmp/unused', env: {} });
    for (const fault of experiment.faults) {
      if (isBrokerFault(fault.action)) continue; // the lab's own broker, checked by parseExperiment
      const services = topology.services.map((s) => s.name);
      assert.ok(
        services.some((s) => fault.target.startsWith(`${s}-`)),
        `${name}: ${fault.target} is an instance of the topology`,
      );
    }
  }
});
