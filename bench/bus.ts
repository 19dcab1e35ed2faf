// Work-queue bench: archlab's bus backends against the bare use of the same technology (the ceiling)
// and against BullMQ (the peer), on identical ~100-byte JSON messages, in one run:
// - throughput through enqueue → consume → ack, one message per call and in batches of 100;
// - latency from scheduled send to handler start at a fixed arrival rate (open model).
// Producer and consumer run together in this one process. Every queue is fresh per scenario and
// deleted after it (files removed, Redis keys under this run's prefix unlinked, BullMQ obliterated).
//   npm run bench -- bus              (BENCH_SECONDS=4 per scenario by default)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deleteKeys } from '../test/helpers/redis.ts';
import { archlabBus } from './bus/archlab.ts';
import { bullmq } from './bus/bullmq.ts';
import { latency, throughput } from './bus/drive.ts';
import { REDIS_URL, redisStreams } from './bus/redis-streams.ts';
import { printTable, printTargets, type Row } from './bus/report.ts';
import { sqliteTable } from './bus/sqlite-table.ts';
import { errorText, inProcess, message, NotAvailable, type Subject, type SubjectFactory } from './bus/subject.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const durationMs = seconds * 1000;
const warmupMs = Math.min(500, durationMs / 4);
const BATCH = 100;
// Ten batches in flight keeps every consumer busy without letting a fast producer build a backlog
// that would measure the queue's depth rather than its speed.
const MAX_BACKLOG = BATCH * 10;
const RATE_PER_SECOND = 2000;
const MAX_P99_MS = 2;
// A scenario that has not finished by then is reported as hung, so the run stays bounded.
const SCENARIO_TIMEOUT_MS = durationMs + warmupMs + 15_000;

const MODES = [
  { mode: '1 per call', batch: 1, prefetch: 1 },
  { mode: `batch ${BATCH}`, batch: BATCH, prefetch: BATCH },
] as const;
const LATENCY_MODE = `open ${RATE_PER_SECOND}/s`;

const tag = `archlab-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const keyPrefix = (scenario: string) => `${tag}:${scenario}:`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'archlab-bench-bus-'));

// Each archlab backend right after its ceiling, so the two run under the most similar machine load.
const all: SubjectFactory[] = [
  sqliteTable(dir),
  archlabBus('archlab sqlite', (scenario) => `sqlite:${path.join(dir, `bus-${scenario}.db`)}`),
  redisStreams(keyPrefix),
  archlabBus('archlab redis', (scenario) => `${REDIS_URL}?prefix=${keyPrefix(scenario)}`),
  bullmq((scenario) => `${keyPrefix(scenario)}bull`),
];

const command = `${process.env.BENCH_SECONDS === undefined ? '' : `BENCH_SECONDS=${seconds} `}npm run bench -- bus`;
console.log(`archlab bus bench: ${command}`);
console.log(
  `node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), ${os.platform()} ${os.release()}`,
);
console.log(
  `payload ${JSON.stringify(message(123_456)).length} bytes of JSON; throughput: ${warmupMs} ms warm-up + ${durationMs} ms window,` +
    ` at most ${MAX_BACKLOG} undelivered; latency: ${RATE_PER_SECOND} msg/s open model for ${durationMs} ms after` +
    ` ${warmupMs} ms warm-up, measured from the scheduled send time to handler start`,
);
const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
console.log(`load average at start: ${load()} (1/5/15 min)`);
console.log(
  'producer and consumer run together in this one process (one event loop); Redis 127.0.0.1:6379 is shared,' +
    ' other work on this machine shows up in the figures',
);
console.log(
  `"1 per call": one awaited send at a time, consumer concurrency / COUNT 1. "batch ${BATCH}": archlab has no batch` +
    ` enqueue, so ${BATCH} enqueue() calls in flight, consume concurrency ${BATCH}; bare sqlite: ${BATCH} INSERTs in one` +
    ` transaction, claim ${BATCH} with UPDATE … RETURNING, one DELETE; raw streams: pipeline of ${BATCH} XADD, XREADGROUP` +
    ` COUNT ${BATCH}, one XACK; bullmq: addBulk(${BATCH}), Worker concurrency ${BATCH}, removeOnComplete.` +
    ` Latency: one send per message, consumers as in "batch ${BATCH}".`,
);

const rows: Row[] = [];
const unavailable = new Set<string>();
let scenarios = 0;
try {
  for (const { mode, batch, prefetch } of MODES) {
    for (const factory of all) {
      const row: Row = { backend: factory.name, mode, kind: 'throughput' };
      rows.push(row);
      await scenario(factory, row, async (subject) => {
        const result = await throughput(subject, { batch, prefetch, warmupMs, durationMs, maxBacklog: MAX_BACKLOG });
        row.perSecond = result.perSecond;
        if (result.error) row.note = `error: ${result.error}`;
      });
    }
  }
  for (const factory of [inProcess(), ...all]) {
    const row: Row = { backend: factory.name, mode: LATENCY_MODE, kind: 'latency' };
    rows.push(row);
    await scenario(factory, row, async (subject) => {
      const result = await latency(subject, {
        ratePerSecond: RATE_PER_SECOND,
        prefetch: BATCH,
        warmupMs,
        durationMs,
        drainMs: 2000,
      });
      Object.assign(row, { perSecond: result.perSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms });
      const notes = [`max ${result.maxMs.toFixed(1)} ms, timer lag p99 ${result.sendLagP99Ms.toFixed(2)} ms`];
      if (result.delivered < result.sent)
        notes.push(`${result.sent - result.delivered} of ${result.sent} not delivered`);
      if (result.error) notes.push(`error: ${result.error}`);
      row.note = notes.join('; ');
    });
  }
  printTable(rows);
  console.log(`\nload average at end: ${load()} (1/5/15 min)`);
  printTargets(
    rows,
    MODES.map((m) => m.mode),
    LATENCY_MODE,
    MAX_P99_MS,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  const left = await deleteKeys(tag, REDIS_URL).catch((error: unknown) => {
    console.error(`could not sweep Redis keys under ${tag}: ${errorText(error)}`);
    return 0;
  });
  console.log(`\ncleanup: temp dir removed; ${left} leftover Redis keys under ${tag}* unlinked in the final sweep`);
}

/** Opens a fresh subject, runs `body` with a deadline, and always closes it and deletes its keys. */
async function scenario(factory: SubjectFactory, row: Row, body: (subject: Subject) => Promise<void>) {
  if (unavailable.has(factory.name)) {
    row.note = 'not yet available';
    return;
  }
  const name = `s${++scenarios}`;
  process.stdout.write(`  ${factory.name.padEnd(28)} ${row.mode.padEnd(12)} `);
  let subject: Subject | undefined;
  try {
    subject = await factory.open(name);
    await deadline(body(subject), SCENARIO_TIMEOUT_MS);
  } catch (error) {
    row.note = error instanceof NotAvailable ? `not yet available: ${error.message}` : `failed: ${errorText(error)}`;
    if (error instanceof NotAvailable) unavailable.add(factory.name);
  } finally {
    await subject?.close().catch((error: unknown) => {
      row.note = `${row.note ?? ''} close failed: ${errorText(error)}`.trim();
    });
    await deleteKeys(keyPrefix(name), REDIS_URL).catch(() => {});
  }
  const figure =
    row.kind === 'throughput' ? `${(row.perSecond ?? 0).toFixed(0)} msg/s` : `p99 ${row.p99Ms?.toFixed(2)} ms`;
  console.log(row.note?.startsWith('not yet') || row.note?.startsWith('failed') ? row.note : figure);
}

async function deadline(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
