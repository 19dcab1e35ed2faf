// The three calculator programs of seed 003, one gRPC server process per operation:
// `calculator-add`, `calculator-multiply` (computed in place) and `calculator-subtract`, which asks
// calculator-add (a service-to-service call with a deadline, add-client.ts).
//
// Settings (environment, e.g. the service's `env:` in the topology):
//   CALCULATOR_ADD_URL         calculator-subtract's calculator-add; default: from placement.json
//   CALCULATOR_ADD_TIMEOUT_MS  its deadline for one Add call; default 1000
import type { Program } from '../program.ts';
import { createAddClient } from './add-client.ts';
import { add, multiply, subtractionAsAddition } from './operations.ts';
import { startCalculatorServer } from './server.ts';

export const CALCULATOR_DEFAULTS = Object.freeze({ addTimeoutMs: 1000 });

export const calculatorAdd: Program = (ctx) => startCalculatorServer(ctx, 'Add', add);

export const calculatorMultiply: Program = (ctx) => startCalculatorServer(ctx, 'Multiply', multiply);

export const calculatorSubtract: Program = async (ctx) => {
  const addClient = createAddClient({
    dataDir: ctx.dataDir,
    url: process.env.CALCULATOR_ADD_URL || undefined,
    timeoutMs: positiveInteger('CALCULATOR_ADD_TIMEOUT_MS', CALCULATOR_DEFAULTS.addTimeoutMs),
    log: ctx.log,
  });
  // Registered before the server's closer, so it runs after it: calls in flight still reach add.
  ctx.shutdown.add('calculator-add client', () => addClient.close());
  return startCalculatorServer(ctx, 'Subtract', (operands, call) =>
    addClient.add(subtractionAsAddition(operands), call),
  );
};

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer (ms), not "${raw}"`);
  return value;
}
