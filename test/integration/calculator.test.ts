// Seed 003's calculator services as real processes (`archlab run calculator-*`), called over real
// HTTP/2 through the gateway's gRPC client and checked with the monitor's gRPC probe: the three
// operations, each process serving only its own rpc, bad operands refused, the health protocol,
// graceful shutdown, and calculator-subtract's call to calculator-add failing within its deadline
// (not hanging, the seed's bug) when add is killed or hung, then recovering when add is back.
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createGrpcUpstreams, type GrpcUpstreams } from '../../src/gateway/grpc-client.ts';
import { callUnary, createClient, loadService } from '../../src/kit/grpc.ts';
import { HEALTH_PROTO, HEALTH_SERVICE } from '../../src/kit/grpc-health.ts';
import { createGrpcProbe, grpcServing } from '../../src/monitor/probes/grpc.ts';
import { placementOf, writePlacement } from '../../src/topology/placement.ts';
import { freePort } from '../helpers/ports.ts';
import { CLI } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor, within } from '../helpers/wait-for.ts';

const TOPOLOGY = `
monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  calculator-add: { kind: grpc }
  calculator-subtract: { kind: grpc }
  calculator-multiply: { kind: grpc }
`;

/** Generous: these tests assert which failure comes back, never how fast. */
const DEADLINE_MS = 10_000;

interface Calculator {
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Like test/helpers/system.ts startProgram, with this file's topology (--topology). */
async function startCalculator(
  t: TestContext,
  dir: string,
  program: string,
  options: { port?: number; env?: Record<string, string> } = {},
): Promise<Calculator> {
  const args = [
    'run',
    program,
    '--instance',
    `${program}-1`,
    '--data',
    dir,
    '--topology',
    path.join(dir, 'topology.yaml'),
  ];
  if (options.port !== undefined) args.push('--port', String(options.port));
  const child = fork(CLI, args, {
    env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error', ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (message: { type: string; url?: string; message?: string }) => {
      if (message.type === 'listening') resolve(message.url!);
      if (message.type === 'failed') reject(new Error(`${program} failed to start: ${message.message}`));
    });
    void exited.then(({ code, signal }) => reject(new Error(`${program} exited (${code ?? signal})`)));
  });
  return { url, child, exited };
}

/** A data dir with the topology and a placement.json naming calculator-add (what subtract reads). */
async function dataDir(t: TestContext, addPort: number): Promise<string> {
  const dir = tmpDir(t, 'archlab-calculator-');
  await writeFile(path.join(dir, 'topology.yaml'), TOPOLOGY);
  const addUrl = `http://127.0.0.1:${addPort}`;
  await writePlacement(
    dir,
    placementOf([{ name: 'calculator-add-1', service: 'calculator-add', url: addUrl, spare: false }], null),
  );
  return dir;
}

function upstreams(t: TestContext): GrpcUpstreams {
  const grpc = createGrpcUpstreams();
  t.after(() => grpc.close());
  return grpc;
}

async function ping(t: TestContext, url: string, timeoutMs = 2000) {
  const probe = createGrpcProbe(url, { timeoutMs });
  t.after(() => probe.close());
  return probe.ping();
}

test('add, subtract and multiply answer over gRPC, each process only its own rpc', async (t) => {
  const addPort = await freePort();
  const dir = await dataDir(t, addPort);
  const [add, subtract, multiply] = await Promise.all([
    startCalculator(t, dir, 'calculator-add', { port: addPort }),
    startCalculator(t, dir, 'calculator-subtract'),
    startCalculator(t, dir, 'calculator-multiply'),
  ]);
  assert.equal(add.url, `http://127.0.0.1:${addPort}`);
  const grpc = upstreams(t);

  assert.deepEqual(await grpc.call(add.url, 'Add', { num1: 10, num2: 3 }, DEADLINE_MS), {
    ok: true,
    response: { result: 13 },
  });
  assert.deepEqual(await grpc.call(subtract.url, 'Subtract', { num1: 10, num2: 3 }, DEADLINE_MS), {
    ok: true,
    response: { result: 7 },
  });
  assert.deepEqual(await grpc.call(multiply.url, 'Multiply', { num1: 2.5, num2: -4 }, DEADLINE_MS), {
    ok: true,
    response: { result: -10 },
  });
  // proto3 leaves zeros off the wire: they still arrive as 0, and a result of 0 is still sent.
  assert.deepEqual(await grpc.call(subtract.url, 'Subtract', { num1: 0, num2: 0 }, DEADLINE_MS), {
    ok: true,
    response: { result: 0 },
  });

  for (const [url, method] of [
    [add.url, 'Multiply'],
    [subtract.url, 'Add'],
    [multiply.url, 'Subtract'],
  ] as const) {
    const outcome = await grpc.call(url, method, { num1: 1, num2: 2 }, DEADLINE_MS);
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.failure, 'status');
    assert.equal(!outcome.ok && outcome.code, status.UNIMPLEMENTED, `${method} on ${url}`);
  }
  // Not an rpc of the service (a Client method of that name exists): refused without a call.
  const close = await grpc.call(add.url, 'close', {}, DEADLINE_MS);
  assert.equal(!close.ok && close.code, status.UNIMPLEMENTED);

  const nan = await grpc.call(subtract.url, 'Subtract', { num1: Number.NaN, num2: 1 }, DEADLINE_MS);
  assert.deepEqual(
    { ...nan, details: undefined },
    {
      ok: false,
      failure: 'status',
      code: status.INVALID_ARGUMENT,
      errorCode: 'calculator_invalid_operand',
      details: undefined,
    },
  );
  const overflow = await grpc.call(multiply.url, 'Multiply', { num1: 1e308, num2: 10 }, DEADLINE_MS);
  assert.equal(!overflow.ok && overflow.code, status.INVALID_ARGUMENT);
  assert.equal(!overflow.ok && overflow.errorCode, 'calculator_result_out_of_range');

  for (const { url } of [add, subtract, multiply]) {
    assert.deepEqual(await ping(t, url), { kind: 'ready', reason: 'SERVING' });
    assert.equal(await grpcServing(url, 2000), true);
  }
  for (const process of [add, subtract, multiply]) assert.equal(process.child.exitCode, null, 'no request crashed it');
});

test('health: Check knows "" and calculator.Calculator; Watch sees NOT_SERVING on shutdown, which exits 0', async (t) => {
  const dir = await dataDir(t, await freePort());
  const add = await startCalculator(t, dir, 'calculator-add');
  const health = createClient(loadService(HEALTH_PROTO, HEALTH_SERVICE), add.url);
  t.after(() => health.close());
  const deadline = () => Date.now() + DEADLINE_MS;

  for (const service of ['', 'calculator.Calculator']) {
    assert.deepEqual(await callUnary(health, 'Check', { service }, { deadline: deadline() }), {
      ok: true,
      response: { status: 'SERVING' },
    });
  }
  const unknown = await callUnary(health, 'Check', { service: 'nope.Nope' }, { deadline: deadline() });
  assert.equal(!unknown.ok && unknown.code, status.NOT_FOUND);

  const seen: string[] = [];
  const watch = (health as unknown as Record<string, (r: object) => NodeJS.EventEmitter>).Watch!({ service: '' });
  watch.on('data', (message: { status: string }) => seen.push(message.status));
  const ended = new Promise<void>((resolve) => {
    watch.once('end', resolve);
    watch.once('error', () => resolve());
  });
  await waitFor(() => seen.includes('SERVING'), { what: 'the first Watch message' });

  add.child.kill('SIGTERM');
  await within(ended, DEADLINE_MS, 'the Watch stream to end');
  assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
  assert.deepEqual(await within(add.exited, DEADLINE_MS, 'calculator-add to exit'), { code: 0, signal: null });
});

test('add SIGKILLed: subtract fails at once (UNAVAILABLE), the probe misses, and both recover with add', async (t) => {
  const addPort = await freePort();
  const dir = await dataDir(t, addPort);
  const add = await startCalculator(t, dir, 'calculator-add', { port: addPort });
  const subtract = await startCalculator(t, dir, 'calculator-subtract');
  const grpc = upstreams(t);
  assert.equal((await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS)).ok, true);

  add.child.kill('SIGKILL');
  await add.exited;
  const failed = await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS);
  assert.equal(failed.ok, false);
  assert.equal(!failed.ok && failed.failure, 'status', 'subtract answered: it did not hang until the deadline');
  assert.equal(!failed.ok && failed.code, status.UNAVAILABLE);
  assert.equal(!failed.ok && failed.errorCode, 'calculator_add_unavailable');

  const direct = await grpc.call(add.url, 'Add', { num1: 1, num2: 1 }, DEADLINE_MS);
  assert.equal(!direct.ok && direct.failure, 'refused');
  const missed = await ping(t, add.url);
  assert.equal(missed.kind, 'miss');
  assert.match(missed.reason, /^(ECONNREFUSED|no connection)$/);
  assert.equal(await grpcServing(add.url, 2000), false);

  await startCalculator(t, dir, 'calculator-add', { port: addPort });
  const recovered = await waitFor(
    async () => {
      const outcome = await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS);
      return outcome.ok && outcome;
    },
    { what: 'subtract to reach the restarted add' },
  );
  assert.deepEqual(recovered.response, { result: 3 });
  assert.equal(subtract.child.exitCode, null);
});

test('add SIGSTOPped: subtract fails within its deadline (DEADLINE_EXCEEDED), calls and probes time out', async (t) => {
  const addPort = await freePort();
  const dir = await dataDir(t, addPort);
  const add = await startCalculator(t, dir, 'calculator-add', { port: addPort });
  const subtract = await startCalculator(t, dir, 'calculator-subtract', {
    env: { CALCULATOR_ADD_TIMEOUT_MS: '300' },
  });
  const grpc = upstreams(t);
  assert.equal((await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS)).ok, true);

  add.child.kill('SIGSTOP');
  t.after(() => add.child.kill('SIGCONT'));
  const failed = await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS);
  // Subtract's own 300 ms deadline on add ended it, long before ours: its code says so.
  assert.equal(!failed.ok && failed.failure, 'timeout');
  assert.equal(!failed.ok && failed.errorCode, 'calculator_add_timeout');

  const direct = await grpc.call(add.url, 'Add', { num1: 1, num2: 1 }, 300);
  assert.equal(!direct.ok && direct.failure, 'timeout');
  assert.equal(!direct.ok && direct.errorCode, undefined);
  assert.deepEqual(await ping(t, add.url, 300), { kind: 'miss', reason: 'timeout after 300 ms' });

  add.child.kill('SIGCONT');
  assert.deepEqual(await ping(t, add.url), { kind: 'ready', reason: 'SERVING' });
  const again = await grpc.call(subtract.url, 'Subtract', { num1: 5, num2: 2 }, DEADLINE_MS);
  assert.deepEqual(again, { ok: true, response: { result: 3 } });
});

test('calculator.hang: calls are never answered (the caller times out), health stays SERVING, SIGTERM still exits', async (t) => {
  const dir = await dataDir(t, await freePort());
  const add = await startCalculator(t, dir, 'calculator-add', { env: { ARCHLAB_FAULTS: 'calculator.hang' } });
  const grpc = upstreams(t);
  const hung = await grpc.call(add.url, 'Add', { num1: 1, num2: 1 }, 300);
  assert.equal(!hung.ok && hung.failure, 'timeout');
  assert.deepEqual(await ping(t, add.url), { kind: 'ready', reason: 'SERVING' });

  // A call left hanging holds tryShutdown; the drain period cuts it off and the process exits 0.
  const pending = grpc.call(add.url, 'Add', { num1: 1, num2: 1 }, DEADLINE_MS);
  // Answered on the same connection after the server has read the call above: it is in flight there.
  const other = await grpc.call(add.url, 'Multiply', { num1: 1, num2: 1 }, DEADLINE_MS);
  assert.equal(!other.ok && other.code, status.UNIMPLEMENTED);
  add.child.kill('SIGTERM');
  assert.deepEqual(await within(add.exited, DEADLINE_MS, 'calculator-add to exit'), { code: 0, signal: null });
  const cut = await pending;
  assert.equal(cut.ok, false);
});
