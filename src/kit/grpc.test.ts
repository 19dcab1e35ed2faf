import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { bindAddress, classify, ERROR_CODE_KEY, grpcTarget, httpStatusOf, loadService } from './grpc.ts';

function error(code: number, details: string, trailers: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error(details), { code, details, metadata });
}

test('failures are classified as the gateway needs them', () => {
  const noConnection = 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.';
  assert.equal(classify(error(status.UNAVAILABLE, noConnection)).failure, 'refused');
  assert.equal(classify(error(status.UNAVAILABLE, 'Connection dropped')).failure, 'reset');
  assert.equal(classify(error(status.INTERNAL, 'Received RST_STREAM with code 2')).failure, 'reset');
  assert.equal(classify(error(status.CANCELLED, 'Cancelled on client')).failure, 'reset');
  assert.equal(classify(error(status.DEADLINE_EXCEEDED, 'Deadline exceeded')).failure, 'timeout');
  // Answered by the server: an UNAVAILABLE that carries trailers is the server's word, not the channel's.
  assert.deepEqual(classify(error(status.UNAVAILABLE, 'add is down', { [ERROR_CODE_KEY]: 'x_down' })), {
    ok: false,
    failure: 'status',
    code: status.UNAVAILABLE,
    details: 'add is down',
    errorCode: 'x_down',
  });
  assert.deepEqual(classify(error(status.INVALID_ARGUMENT, 'num1')), {
    ok: false,
    failure: 'status',
    code: status.INVALID_ARGUMENT,
    details: 'num1',
  });
});

test('gRPC status codes map to HTTP statuses', () => {
  assert.equal(httpStatusOf(status.INVALID_ARGUMENT), 400);
  assert.equal(httpStatusOf(status.UNIMPLEMENTED), 501);
  assert.equal(httpStatusOf(status.UNAVAILABLE), 503);
  assert.equal(httpStatusOf(status.DEADLINE_EXCEEDED), 504);
  assert.equal(httpStatusOf(status.DATA_LOSS), 500);
});

test('addresses: instance URLs to targets, hosts to bind addresses', () => {
  assert.equal(grpcTarget('http://127.0.0.1:50051'), '127.0.0.1:50051');
  assert.equal(grpcTarget('http://[::1]:50051/'), '[::1]:50051');
  assert.equal(bindAddress('127.0.0.1', 0), '127.0.0.1:0');
  assert.equal(bindAddress('::1', 7), '[::1]:7');
});

test('protos load from proto/, by fully qualified service name', () => {
  assert.deepEqual(Object.keys(loadService('calculator.proto', 'calculator.Calculator').service), [
    'Add',
    'Subtract',
    'Multiply',
  ]);
  assert.throws(() => loadService('calculator.proto', 'calculator.Nope'), /defines no service calculator\.Nope/);
});
