import assert from 'node:assert/strict';
import { test } from 'node:test';
import { continueTrace, formatTraceparent, parseTraceparent, traceHeaders } from './trace.ts';

test('a valid traceparent is continued with a new span', () => {
  const trace = continueTrace({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  assert.equal(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(trace.parentSpanId, '00f067aa0ba902b7');
  assert.notEqual(trace.spanId, '00f067aa0ba902b7');
  assert.match(trace.spanId, /^[0-9a-f]{16}$/);
  assert.equal(trace.sampled, true);
  assert.equal(traceHeaders(trace).traceparent, `00-${trace.traceId}-${trace.spanId}-01`);
});

test('invalid or all-zero traceparents start a new trace', () => {
  for (const bad of [
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
  ]) {
    assert.equal(parseTraceparent(bad), undefined, bad);
    const trace = continueTrace({ traceparent: bad });
    assert.equal(trace.parentSpanId, undefined);
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
  }
});

test('unsampled flag round-trips; unsafe request ids are replaced', () => {
  const trace = continueTrace({
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00',
    'x-request-id': 'bad id\n',
  });
  assert.equal(trace.sampled, false);
  assert.equal(formatTraceparent(trace).endsWith('-00'), true);
  assert.notEqual(trace.requestId, 'bad id\n');
});

test('generated ids are well-formed and do not repeat across pool refills', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const trace = continueTrace({});
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
    assert.match(trace.spanId, /^[0-9a-f]{16}$/);
    ids.add(trace.traceId);
    ids.add(trace.spanId);
  }
  assert.equal(ids.size, 4000);
});
