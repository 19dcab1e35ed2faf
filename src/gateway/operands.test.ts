import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOperands } from './gateway.ts';

test('two finite numbers, in any plain notation', () => {
  assert.deepEqual(parseOperands('/6/7'), { num1: 6, num2: 7 });
  assert.deepEqual(parseOperands('/-2.5/.5/'), { num1: -2.5, num2: 0.5 });
  assert.deepEqual(parseOperands('/1e3/+4'), { num1: 1000, num2: 4 });
});

test('anything else is refused (the seed answered 422)', () => {
  for (const rest of [
    '',
    '/1',
    '/1/2/3',
    '/seis/7',
    '/1/NaN',
    '/1/Infinity',
    '/0x10/1',
    '/1e999/1',
    '/%20/1',
    '/1,5/2',
  ]) {
    assert.equal(parseOperands(rest), undefined, rest);
  }
});
