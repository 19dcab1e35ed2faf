import assert from 'node:assert/strict';
import { test } from 'node:test';
import { documentKey, parseId } from './identifiers.ts';

test('parseId accepts the positive integers the write side hands out, nothing else', () => {
  assert.equal(parseId('1'), 1);
  assert.equal(parseId('42'), 42);
  assert.equal(parseId('999999999999999'), 999_999_999_999_999);
  for (const bad of ['0', '-1', '01', '1.5', '1e3', ' 1', 'abc', '', '1234567890123456', '0x10']) {
    assert.equal(parseId(bad), undefined, bad);
  }
});

test('documentKey: separators and case do not make another document', () => {
  assert.equal(documentKey('1.020.304'), '1020304');
  assert.equal(documentKey('1 020 304'), '1020304');
  assert.equal(documentKey('ab-123456'), 'AB123456');
  assert.notEqual(documentKey('1020304'), documentKey('10203040'));
});
