import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CalculatorErrors } from './errors.ts';
import { add, CalculatorError, checkResult, multiply, readOperands, subtractionAsAddition } from './operations.ts';

test('the operations on doubles, subtraction as an addition of the negation', () => {
  assert.equal(add({ num1: 10, num2: 3 }), 13);
  assert.equal(multiply({ num1: 2.5, num2: -4 }), -10);
  assert.equal(add(subtractionAsAddition({ num1: 10, num2: 3 })), 7);
  assert.equal(add(subtractionAsAddition({ num1: 0.3, num2: 0.1 })), 0.3 - 0.1);
  assert.equal(add(subtractionAsAddition({ num1: 5, num2: -2 })), 7);
});

test('operands must be finite numbers', () => {
  assert.deepEqual(readOperands({ num1: 0, num2: -1.5 }), { num1: 0, num2: -1.5 });
  for (const request of [
    { num1: Number.NaN, num2: 1 },
    { num1: 1, num2: Number.POSITIVE_INFINITY },
    { num1: 1 },
    null,
  ]) {
    assert.throws(
      () => readOperands(request),
      (error: unknown) =>
        error instanceof CalculatorError &&
        error.status === status.INVALID_ARGUMENT &&
        error.code === CalculatorErrors.INVALID_OPERAND,
    );
  }
});

test('a result that is not a finite double is refused as the caller’s (INVALID_ARGUMENT), never retried', () => {
  assert.equal(checkResult('Add', { num1: 1, num2: 2 }, 3), 3);
  const operands = { num1: 1e308, num2: 10 };
  assert.throws(
    () => checkResult('Multiply', operands, multiply(operands)),
    (error: unknown) =>
      error instanceof CalculatorError &&
      error.status === status.INVALID_ARGUMENT &&
      error.code === CalculatorErrors.RESULT_OUT_OF_RANGE,
  );
});
