// The arithmetic of seed 003, on IEEE 754 doubles as the .proto declares them (0.1 + 0.2 is
// 0.30000000000000004, as in the seed): operands must be finite, and so must the result, since a
// non-finite number has no JSON form for the gateway's answer.
import { status } from '@grpc/grpc-js';
import { CalculatorErrors } from './errors.ts';

export type Operation = 'Add' | 'Subtract' | 'Multiply';

export interface Operands {
  num1: number;
  num2: number;
}

/** A failure answered as a gRPC status, with an archlab code (errors.ts) in the trailers. */
export class CalculatorError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(grpcStatus: number, code: string, message: string) {
    super(message);
    this.name = 'CalculatorError';
    this.status = grpcStatus;
    this.code = code;
  }
}

export function readOperands(request: unknown): Operands {
  const { num1, num2 } = (request ?? {}) as Record<string, unknown>;
  return { num1: operand('num1', num1), num2: operand('num2', num2) };
}

function operand(name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new CalculatorError(
    status.INVALID_ARGUMENT,
    CalculatorErrors.INVALID_OPERAND,
    `${name} must be a finite number, not ${String(value)}`,
  );
}

/**
 * INVALID_ARGUMENT rather than OUT_OF_RANGE: the same operands always overflow whatever the state of
 * the system, so no retry or replay could help (OUT_OF_RANGE is for positions past a moving end).
 */
export function checkResult(operation: Operation, { num1, num2 }: Operands, result: number): number {
  if (Number.isFinite(result)) return result;
  throw new CalculatorError(
    status.INVALID_ARGUMENT,
    CalculatorErrors.RESULT_OUT_OF_RANGE,
    `${operation}(${num1}, ${num2}) is not a finite double`,
  );
}

export const add = ({ num1, num2 }: Operands): number => num1 + num2;
export const multiply = ({ num1, num2 }: Operands): number => num1 * num2;

/** a − b asked of calculator-add as a + (−b): exactly a − b in IEEE 754 arithmetic. */
export const subtractionAsAddition = ({ num1, num2 }: Operands): Operands => ({ num1, num2: -num2 });
