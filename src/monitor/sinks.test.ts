import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { waitFor } from '../../test/helpers/wait-for.ts';
import type { Bus, NewEvent } from '../bus/bus.ts';
import { createLogger } from '../kit/logger.ts';
import { busSink, fileSink, orderedWriter } from './sinks.ts';
import { MONITOR_STREAM, type Transition } from './types.ts';

/** A logger whose entries a test can read. */
function capturingLogger() {
  const entries: { level: number; msg: string; [key: string]: unknown }[] = [];
  const log = createLogger({
    destination: new Writable({
      write(chunk, _enc, done) {
        entries.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  });
  return { log, entries };
}

const transition = (to: Transition['to'], n: number): Transition => ({
  instance: `a-${n}`,
  service: 'a',
  from: 'unknown',
  to,
  time: new Date(n).toISOString(),
  firstMissAt: null,
  detectionMs: null,
  count: 1,
  reason: '200 ready',
});

test('a failing write is retried in order before anything queued after it', async () => {
  const { log, entries } = capturingLogger();
  const written: number[] = [];
  let failuresLeft = 3;
  const writer = orderedWriter<number>(
    'test',
    async (items) => {
      if (failuresLeft-- > 0) throw new Error('broker down');
      written.push(...items);
    },
    { log, retryBaseMs: 1, retryMaxMs: 5 },
  );
  writer.push(1);
  writer.push(2);
  writer.push(3);
  await waitFor(() => written.length === 3, { what: 'the retried writes' });
  assert.deepEqual(written, [1, 2, 3]);
  assert.equal(entries.filter((e) => e.msg === 'monitor sink write failed').length, 3);
  assert.ok(entries.some((e) => e.msg === 'monitor sink writes again'));
  writer.push(4);
  await writer.close();
  assert.deepEqual(written, [1, 2, 3, 4], 'close writes what is queued');
});

test('what cannot be written by close is logged in full, not dropped silently', async () => {
  const { log, entries } = capturingLogger();
  const writer = orderedWriter<string>(
    'test',
    async () => {
      throw new Error('broker down');
    },
    { log, retryBaseMs: 60_000 },
  );
  writer.push('first');
  writer.push('second');
  await writer.close();
  const left = entries.find((e) => e.msg === 'monitor sink closed with items not written');
  assert.deepEqual(left?.items, ['first', 'second']);
  writer.push('late');
  assert.ok(entries.some((e) => e.msg === 'monitor sink closed: item not written' && e.item === 'late'));
});

test('a full queue drops its oldest item loudly', async () => {
  const { log, entries } = capturingLogger();
  const writer = orderedWriter<number>(
    'test',
    async () => {
      throw new Error('down');
    },
    { log, retryBaseMs: 60_000, maxQueued: 2 },
  );
  for (const n of [1, 2, 3]) writer.push(n);
  assert.equal(entries.find((e) => e.msg === 'monitor sink queue full: oldest item dropped')?.item, 1);
  await writer.close();
});

test('the bus sink appends instance.<to> events and keeps each event id across retries', async () => {
  const { log } = capturingLogger();
  const attempts: NewEvent[][] = [];
  let fail = true;
  const bus = {
    async append(stream: string, events: readonly NewEvent[]) {
      assert.equal(stream, MONITOR_STREAM);
      attempts.push([...events]);
      if (fail) {
        fail = false;
        throw new Error('append answer lost');
      }
      return events.map((_, i) => i + 1);
    },
  } as unknown as Bus;
  const sink = busSink(bus, { log, retryBaseMs: 1 });
  sink.write(transition('down', 1));
  await waitFor(() => attempts.length === 2, { what: 'the retry' });
  await sink.close();
  assert.equal(attempts[0]![0]!.id, attempts[1]![0]!.id);
  assert.equal(attempts[1]![0]!.type, 'instance.down');
  assert.deepEqual(attempts[1]![0]!.data, transition('down', 1));
});

test('the file sink creates its folder and appends one JSON line per transition', async (t) => {
  const { log } = capturingLogger();
  const file = path.join(tmpDir(t), 'monitor', 'events.jsonl');
  const sink = await fileSink(file, { log });
  sink.write(transition('up', 1));
  sink.write(transition('down', 2));
  await sink.close();
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.deepEqual(
    lines.map((line) => JSON.parse(line)),
    [transition('up', 1), transition('down', 2)],
  );
});
