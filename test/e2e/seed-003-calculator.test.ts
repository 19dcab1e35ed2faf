// Seed 003: the calculator over gRPC behind the gateway (HTTP → gRPC transcoding with deadlines),
// store-and-forward of operations while a service is down or hung, replay per service without one
// blocking another, and non-destructive /pending_results in the seed's shape.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, call, type RunningSystem, startSystem } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const archlab = (system: RunningSystem, ...args: string[]) =>
  run(process.execPath, [CLI, ...args, '--data', system.dataDir]);

const TOPOLOGY = `monitor: { intervalMs: 100, timeoutMs: 50, failureThreshold: 2, successThreshold: 2 }
services:
  calculator-add: { kind: grpc }
  calculator-subtract: { kind: grpc }
  calculator-multiply: { kind: grpc }
routes:
  - prefix: /add
    service: calculator-add
    grpc: { method: Add, label: Addition }
    storeAndForward: true
    storedMessage: "Servicio de suma no disponible, operación encolada."
    timeoutMs: 1000
    tryTimeoutMs: 300
  - prefix: /subtract
    service: calculator-subtract
    grpc: { method: Subtract, label: Subtraction }
    storeAndForward: true
    storedMessage: "Servicio de resta no disponible, operación encolada."
    timeoutMs: 1000
    tryTimeoutMs: 300
  - prefix: /multiply
    service: calculator-multiply
    grpc: { method: Multiply, label: Multiplication }
    storeAndForward: true
    storedMessage: "Servicio de multiplicación no disponible, operación encolada."
    timeoutMs: 1000
    tryTimeoutMs: 300
`;

interface Pending {
  ticket: string;
  state: string;
  operation: string;
  num1: number;
  num2: number;
  result: number | null;
}

test('seed 003: operations through the gateway; down or hung services get 202 tickets replayed independently', async (t) => {
  const dir = tmpDir(t, 'archlab-topology-');
  const file = path.join(dir, 'archlab.yaml');
  writeFileSync(file, TOPOLOGY);
  const system = await startSystem(t, { topology: file });
  const gw = system.gateway;

  assert.deepEqual((await call(`${gw}/add/6/7`)).body, { operation: 'add', result: 13 });
  assert.deepEqual((await call(`${gw}/subtract/10/4`)).body, { operation: 'subtract', result: 6 });
  assert.deepEqual((await call(`${gw}/multiply/2.5/4`)).body, { operation: 'multiply', result: 10 });
  const bad = await call(`${gw}/add/seis/7`);
  assert.equal(bad.status, 422);
  assert.equal(bad.body.error.code, 'invalid_operands');
  assert.equal((await call(`${gw}/add/1`)).status, 422);

  // add down (held), multiply hung: both operations are stored with the seed's message.
  await archlab(system, 'fault', 'kill', 'calculator-add-1', '--hold');
  await archlab(system, 'fault', 'hang', 'calculator-multiply-1');
  const add = await call(`${gw}/add/1/2`);
  assert.equal(add.status, 202);
  assert.equal(add.body.message, 'Servicio de suma no disponible, operación encolada.');
  const multiply = await call(`${gw}/multiply/2/5`);
  assert.equal(multiply.status, 202, 'a hung service is not waited for past the deadline');
  assert.equal(multiply.body.message, 'Servicio de multiplicación no disponible, operación encolada.');
  // subtract calls add (service to service, with a deadline): with add down it is stored too.
  const subtract = await call(`${gw}/subtract/5/3`);
  assert.equal(subtract.status, 202);

  const pending = async () => (await call(`${gw}/pending_results`)).body.results as Pending[];
  const byTicket = async (ticket: string) => (await pending()).find((r) => r.ticket === ticket)!;
  const stored = await byTicket(add.body.ticket);
  assert.deepEqual(
    [stored.state, stored.operation, stored.num1, stored.num2, stored.result],
    ['pending', 'Addition', 1, 2, null],
  );

  // multiply back: its ticket completes while add (another service) is still down.
  await archlab(system, 'fault', 'resume', 'calculator-multiply-1');
  const done = await waitFor(
    async () => {
      const ticket = await byTicket(multiply.body.ticket);
      return ticket.state === 'done' ? ticket : undefined;
    },
    { what: 'the multiply ticket', timeoutMs: 15_000 },
  );
  assert.equal(done.result, 10);
  assert.equal(done.operation, 'Multiplication');
  assert.equal((await byTicket(add.body.ticket)).state, 'pending', 'add is still down');

  await archlab(system, 'fault', 'restart', 'calculator-add-1');
  const results = await waitFor(
    async () => {
      const list = await pending();
      const mine = [add, subtract].map((r) => list.find((p) => p.ticket === r.body.ticket)!);
      return mine.every((p) => p.state === 'done') ? mine : undefined;
    },
    { what: 'add and subtract tickets', timeoutMs: 15_000 },
  );
  assert.deepEqual(
    results.map((r) => [r.operation, r.num1, r.num2, r.result]),
    [
      ['Addition', 1, 2, 3],
      ['Subtraction', 5, 3, 2],
    ],
  );
  // Non-destructive reads (the seed popped results): the same list twice.
  assert.deepEqual(await pending(), await pending());
  assert.deepEqual((await call(`${gw}/add/2/2`)).body, { operation: 'add', result: 4 }, 'served directly again');
});
