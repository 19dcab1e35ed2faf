import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEventStreamParser, formatComment, formatEvent, type ServerSentEvent } from './event-stream.ts';

function parse(chunks: string[]) {
  const events: ServerSentEvent[] = [];
  const comments: string[] = [];
  const parser = createEventStreamParser(
    (event) => events.push(event),
    (text) => comments.push(text),
  );
  for (const chunk of chunks) parser.push(chunk);
  return { events, comments };
}

const STREAM = [
  '\uFEFF: hello\n',
  '\n',
  'event: snapshot\r\n',
  'data: {"instances":[]}\r\n',
  '\r\n',
  ': ping\r',
  '\r',
  'event:transition\n',
  'data:{"a":1}\n',
  'data:  two spaces\n',
  'id: 7\n',
  'retry: 10\n',
  'unknown field\n',
  '\n',
  'event: lonely\n',
  '\n',
  'data\n',
  '\n',
].join('');

const EXPECTED = {
  events: [
    { event: 'snapshot', data: '{"instances":[]}' },
    { event: 'transition', data: '{"a":1}\n two spaces' },
    { event: 'message', data: '' },
  ],
  comments: ['hello', 'ping'],
};

test('parses events, comments and every line ending in one chunk', () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test('gives the same events however the stream is split in two, including inside CRLF', () => {
  for (let at = 0; at <= STREAM.length; at++) {
    assert.deepEqual(parse([STREAM.slice(0, at), STREAM.slice(at)]), EXPECTED, `split at ${at}`);
  }
});

test('gives the same events one character at a time', () => {
  assert.deepEqual(parse([...STREAM]), EXPECTED);
});

test('an event without its terminating blank line is not dispatched yet', () => {
  assert.deepEqual(parse(['event: snapshot\ndata: {}\n']).events, []);
});

test('formatEvent and formatComment round-trip through the parser', () => {
  const data = { instance: 'a-1', reason: 'line one\nline two' };
  const { events, comments } = parse([formatEvent('transition', data), formatComment('ping')]);
  assert.deepEqual(
    events.map((e) => ({ event: e.event, data: JSON.parse(e.data) })),
    [{ event: 'transition', data }],
  );
  assert.deepEqual(comments, ['ping']);
});
