import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { AppError, KitErrors } from '../kit/errors.ts';
import { programs } from '../services/programs.ts';
import { inferRole, loadTopology, parseTopology, type TopologyProblem } from './loader.ts';

const repoTopology = fileURLToPath(new URL('../../archlab.yaml', import.meta.url));
const noEnv = { dataDir: './data', env: {} };

/** The AppError parseTopology throws for `text`, checked to be the one config error. */
function failure(text: string, file = 'bad.yaml'): AppError {
  let caught: unknown;
  try {
    parseTopology(text, { ...noEnv, file });
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`);
  assert.equal(caught.code, KitErrors.CONFIG_INVALID);
  assert.equal(caught.status, 400);
  return caught;
}

/** `file:line:col path` of every problem, the part of each message line a user clicks on. */
function where(text: string): string[] {
  const problems = failure(text).details?.problems as TopologyProblem[];
  return problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.path}`);
}

function only(text: string): TopologyProblem {
  const problems = failure(text).details?.problems as TopologyProblem[];
  assert.equal(problems.length, 1, JSON.stringify(problems));
  return problems[0]!;
}

describe('the repository archlab.yaml', () => {
  test('runs the five seed systems, every service with a program and every route to a declared service', async () => {
    const topology = await loadTopology(repoTopology, noEnv);
    assert.equal(topology.file, repoTopology);
    const names = topology.services.map((s) => s.name);
    for (const name of [
      'users-commands',
      'registration-commands',
      'sales-queries',
      'calculator-add',
      'orders-worker',
    ]) {
      assert.ok(names.includes(name), name);
    }
    for (const service of topology.services)
      assert.ok(service.program in programs, `${service.name} runs a known program`);
    assert.deepEqual(topology.services.find((s) => s.name === 'sales-queries')?.redundancy, {
      type: 'active',
      policy: 'primary-backup',
    });
    assert.equal(topology.services.find((s) => s.name === 'users-commands')?.redundancy.type, 'passive');
    assert.ok(topology.routes.some((r) => r.prefix === '/add' && r.grpc?.method === 'Add' && r.storeAndForward));
    assert.equal(topology.gateway.port, 8080);
    assert.equal(topology.store, 'sqlite:./data');
  });
});

describe('parseTopology', () => {
  test('applies every default to a minimal file', () => {
    const topology = parseTopology(
      'services:\n  users-commands: {}\nroutes:\n  - { prefix: /u, service: users-commands }\n',
      {
        dataDir: './data/',
        env: {},
      },
    );
    assert.deepEqual(topology, {
      file: undefined,
      store: 'sqlite:./data',
      bus: 'sqlite:./data/bus.db',
      gateway: {
        host: '127.0.0.1',
        port: 8080,
        bodyLimitBytes: 1_048_576,
        adminPort: 0,
        ejectAfter5xx: 3,
        retryBudget: { percent: 20, minRetries: 10, windowMs: 10_000 },
      },
      monitor: { intervalMs: 1000, timeoutMs: 500, failureThreshold: 3, successThreshold: 2 },
      tracing: { spans: true, rootSampleRatio: 1 },
      services: [
        {
          name: 'users-commands',
          program: 'users-commands',
          kind: 'http',
          role: 'command',
          instances: 1,
          redundancy: { type: 'none' },
          monitor: { intervalMs: 1000, timeoutMs: 500, failureThreshold: 3, successThreshold: 2 },
          env: {},
        },
      ],
      routes: [
        {
          prefix: '/u',
          service: 'users-commands',
          rewrite: undefined,
          idempotent: false,
          storeAndForward: false,
          timeoutMs: 10_000,
          tryTimeoutMs: 2_000,
          grpc: undefined,
          storedMessage: undefined,
          methods: undefined,
        },
      ],
    });
  });

  test('keeps declared values and declaration order', () => {
    const topology = parseTopology(
      [
        'gateway: { port: 9090, ejectAfter5xx: 5, retryBudget: { percent: 50 } }',
        'services:',
        '  sales-queries: { program: sales-read, kind: grpc, instances: 3, env: { LOG: debug } }',
        '  calculator-add: { monitor: { intervalMs: 100 } }',
        'routes:',
        '  - { prefix: /s, service: sales-queries, rewrite: /, storeAndForward: true, timeoutMs: 250 }',
      ].join('\n'),
      noEnv,
    );
    assert.equal(topology.gateway.port, 9090);
    assert.equal(topology.gateway.host, '127.0.0.1');
    assert.equal(topology.gateway.ejectAfter5xx, 5);
    assert.deepEqual(
      topology.gateway.retryBudget,
      { percent: 50, minRetries: 10, windowMs: 10_000 },
      'merged per field',
    );
    assert.deepEqual(
      topology.services.map((s) => s.name),
      ['sales-queries', 'calculator-add'],
    );
    const [sales] = topology.services;
    assert.deepEqual(
      [sales?.program, sales?.kind, sales?.instances, sales?.env],
      ['sales-read', 'grpc', 3, { LOG: 'debug' }],
    );
    assert.deepEqual(
      topology.services[1]?.monitor,
      { intervalMs: 100, timeoutMs: 500, failureThreshold: 3, successThreshold: 2 },
      'per-service monitor settings override the topology-wide ones field by field',
    );
    assert.deepEqual(topology.routes[0], {
      prefix: '/s',
      service: 'sales-queries',
      rewrite: '/',
      idempotent: false,
      storeAndForward: true,
      timeoutMs: 250,
      tryTimeoutMs: 2_000,
      grpc: undefined,
      storedMessage: undefined,
      methods: undefined,
    });
  });

  test('returns a deeply frozen topology', () => {
    const topology = parseTopology(
      'services:\n  users-queries: { env: { A: b }, redundancy: { passive: {} } }\n',
      noEnv,
    );
    const [service] = topology.services;
    for (const value of [topology, topology.gateway, topology.services, service, service?.env, service?.redundancy]) {
      assert.ok(Object.isFrozen(value));
    }
    assert.throws(() => {
      (topology.gateway as { port: number }).port = 1;
    }, TypeError);
  });

  test('ARCHLAB_STORE_URL and ARCHLAB_BUS_URL win over the file; empty ones do not', () => {
    const text = 'store: sqlite:./x\nbus: sqlite:./x/bus.db\nservices:\n  users-commands: {}\n';
    const env = { ARCHLAB_STORE_URL: 'postgres://db/archlab', ARCHLAB_BUS_URL: 'redis://cache:6379' };
    const overridden = parseTopology(text, { dataDir: 'd', env });
    assert.equal(overridden.store, 'postgres://db/archlab');
    assert.equal(overridden.bus, 'redis://cache:6379');
    const empty = parseTopology(text, { dataDir: 'd', env: { ARCHLAB_STORE_URL: '', ARCHLAB_BUS_URL: '' } });
    assert.equal(empty.store, 'sqlite:./x');
    assert.equal(empty.bus, 'sqlite:./x/bus.db');
  });

  test('reads the overrides from process.env when no env is given', (t) => {
    const saved = process.env.ARCHLAB_BUS_URL;
    t.after(() => {
      if (saved === undefined) delete process.env.ARCHLAB_BUS_URL;
      else process.env.ARCHLAB_BUS_URL = saved;
    });
    process.env.ARCHLAB_BUS_URL = 'redis://from-env:6379';
    assert.equal(parseTopology('services:\n  a-b: {}\n', { dataDir: 'd' }).bus, 'redis://from-env:6379');
  });

  test('parses each redundancy form into the Redundancy union', () => {
    const topology = parseTopology(
      [
        'services:',
        '  a-plain: {}',
        '  a-none: { redundancy: none }',
        '  a-active: { instances: 2, redundancy: { active: { policy: least-outstanding } } }',
        '  a-passive: { redundancy: { passive: {} } }',
        '  a-warm: { redundancy: { passive: { spares: 2, mode: warm } } }',
      ].join('\n'),
      noEnv,
    );
    assert.deepEqual(
      topology.services.map((s) => s.redundancy),
      [
        { type: 'none' },
        { type: 'none' },
        { type: 'active', policy: 'least-outstanding' },
        { type: 'passive', spares: 1, mode: 'cold' },
        { type: 'passive', spares: 2, mode: 'warm' },
      ],
    );
  });

  test('infers the role from the name suffix unless it is declared', () => {
    assert.equal(inferRole('users-commands'), 'command');
    assert.equal(inferRole('users-queries'), 'query');
    assert.equal(inferRole('users-registrar'), 'worker');
    assert.equal(inferRole('orders-queriesx'), 'worker');
    const topology = parseTopology('services:\n  orders-worker: {}\n  orders-commands: { role: worker }\n', noEnv);
    assert.deepEqual(
      topology.services.map((s) => s.role),
      ['worker', 'worker'],
    );
  });
});

describe('parseTopology errors', () => {
  test('reports three different mistakes at once, each at its own line', () => {
    const text = [
      'services:', // 1
      '  users-commands:', // 2
      '    instances: 0', // 3: below the minimum
      'routes:', // 4
      '  - prefix: /api-commands/users', // 5
      '    service: users-commands', // 6
      '    idempotant: true', // 7: misspelt field
      '  - prefix: /api-queries/users', // 8
      '    service: users-queries', // 9: not declared
    ].join('\n');
    assert.deepEqual(where(text), [
      'bad.yaml:3:16 services.users-commands.instances',
      'bad.yaml:7:5 routes.0.idempotant',
      'bad.yaml:9:14 routes.1.service',
    ]);
    const lines = failure(text).message.split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines[0], 'bad.yaml:3:16 services.users-commands.instances: must be at least 1 (got 0)');
    assert.match(lines[1]!, /unknown field \(did you mean "idempotent"\?\)$/);
    assert.match(lines[2]!, /unknown service "users-queries"/);
  });

  test('catches an unknown field and suggests the near one', () => {
    const problem = only('gateway:\n  prot: 8080\nservices:\n  a-b: {}\n');
    assert.deepEqual([problem.line, problem.column, problem.path], [2, 3, 'gateway.prot']);
    assert.equal(problem.message, 'unknown field (did you mean "port"?)');
  });

  test('reports a route to an undeclared service at the route line', () => {
    const problem = only('services:\n  users-commands: {}\nroutes:\n  - prefix: /u\n    service: users-comands\n');
    assert.deepEqual([problem.line, problem.column, problem.path], [5, 14, 'routes.0.service']);
    assert.match(problem.message, /did you mean "users-commands"/);
  });

  test('reports a YAML syntax error with its line', () => {
    const problems = failure('services:\n  a-b: {}\nroutes: [\n  { prefix: /a\n').details
      ?.problems as TopologyProblem[];
    assert.ok(problems.length > 0);
    assert.ok(
      problems.every((p) => p.line >= 3 && p.message.startsWith('YAML: ')),
      JSON.stringify(problems),
    );
  });

  test('reports a duplicate YAML key as a syntax error', () => {
    const problem = only('services:\n  a-b: {}\n  a-b: {}\n');
    assert.equal(problem.line, 3);
    assert.match(problem.message, /unique/);
  });

  test('points a missing required field at its parent', () => {
    assert.deepEqual(where('gateway: {}\n'), ['bad.yaml:1:1 services']);
    assert.deepEqual(where('services:\n  a-b: {}\nroutes:\n  - service: a-b\n'), ['bad.yaml:4:5 routes.0.prefix']);
  });

  test('rejects a duplicate route prefix at the second route', () => {
    const text = 'services:\n  a-b: {}\nroutes:\n  - { prefix: /x, service: a-b }\n  - { prefix: /x, service: a-b }\n';
    const problem = only(text);
    assert.deepEqual([problem.line, problem.path], [5, 'routes.1.prefix']);
    assert.match(problem.message, /already routed by routes\.0/);
    const overlapping =
      'services:\n  a-b: {}\n  a-c: {}\nroutes:\n  - { prefix: /x, service: a-b, methods: [POST, GET] }\n  - { prefix: /x, service: a-c, methods: [GET] }\n';
    assert.deepEqual(only(overlapping).path, 'routes.1.prefix');
    const disjoint = parseTopology(
      'services:\n  a-b: {}\n  a-c: {}\nroutes:\n  - { prefix: /x, service: a-b, methods: [POST] }\n  - { prefix: /x, service: a-c, methods: [GET] }\n',
      noEnv,
    );
    assert.deepEqual(
      disjoint.routes.map((r) => [r.service, r.methods]),
      [
        ['a-b', ['POST']],
        ['a-c', ['GET']],
      ],
    );
  });

  test('rejects active redundancy with one instance', () => {
    const problem = only('services:\n  a-b:\n    redundancy: { active: { policy: round-robin } }\n');
    assert.deepEqual([problem.line, problem.path], [3, 'services.a-b.redundancy']);
    assert.match(problem.message, /instances >= 2/);
  });

  test('rejects malformed redundancy, names, prefixes, env values and non-integers', () => {
    const text = [
      'services:',
      '  Users: {}',
      '  a-b: { redundancy: active }',
      '  a-c: { redundancy: { passive: { spares: 5 } }, env: { PORT: 80 } }',
      '  a-d: { instances: 2.5, redundancy: { active: {}, passive: {} } }',
      'routes:',
      '  - { prefix: /x/, service: a-b }',
      '  - { prefix: y, service: a-b, timeoutMs: 0 }',
    ].join('\n');
    assert.deepEqual(where(text), [
      'bad.yaml:2:3 services.Users',
      'bad.yaml:3:22 services.a-b.redundancy',
      'bad.yaml:4:43 services.a-c.redundancy.passive.spares',
      'bad.yaml:4:63 services.a-c.env.PORT',
      'bad.yaml:5:21 services.a-d.instances',
      'bad.yaml:5:38 services.a-d.redundancy',
      'bad.yaml:5:48 services.a-d.redundancy.active.policy',
      'bad.yaml:7:15 routes.0.prefix',
      'bad.yaml:8:15 routes.1.prefix',
      'bad.yaml:8:43 routes.1.timeoutMs',
    ]);
  });

  test('rejects two services whose instance names collide', () => {
    const problem = only('services:\n  a-b: { redundancy: { passive: {} } }\n  a-b-spare: {}\n');
    assert.deepEqual([problem.line, problem.path], [3, 'services.a-b-spare']);
    assert.match(problem.message, /a-b-spare-1/);
  });

  test('rejects an empty file and names <inline> when there is no file', () => {
    assert.throws(
      () => parseTopology('', noEnv),
      (error: AppError) =>
        error.message === '<inline>:1:1 the file must be a map with at least a services: entry (got nothing)',
    );
  });
});

describe('loadTopology', () => {
  test('names the file in every problem', async (t) => {
    const file = path.join(tmpDir(t), 'topology.yaml');
    writeFileSync(file, 'services:\n  a-b: { kind: rest }\n');
    await assert.rejects(loadTopology(file, noEnv), (error: AppError) => {
      assert.equal(error.message, `${file}:2:16 services.a-b.kind: must be one of: http, grpc (got "rest")`);
      return true;
    });
  });

  test('reports a missing file as a config error', async (t) => {
    const file = path.join(tmpDir(t), 'missing.yaml');
    await assert.rejects(loadTopology(file, noEnv), (error: AppError) => {
      assert.equal(error.code, KitErrors.CONFIG_INVALID);
      assert.match(error.message, /ENOENT/);
      return true;
    });
  });
});
