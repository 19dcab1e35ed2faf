// The two measurements of the bus bench, both with producer and consumer in this one process:
// - throughput: a closed loop that keeps at most `maxBacklog` messages sent but not yet delivered,
//   counting deliveries over a window that starts after a warm-up;
// - latency: an open model that sends at a fixed rate on a timer, whatever the backend does, and
//   measures from each message's scheduled send time to the start of its handler.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { errorText, type Message, message, type Subject, sleep, yielder } from './subject.ts';

export interface ThroughputOptions {
  batch: number;
  prefetch: number;
  warmupMs: number;
  durationMs: number;
  /** Bounds memory and queue depth: the producer waits while this many are undelivered. */
  maxBacklog: number;
}

export interface ThroughputResult {
  perSecond: number;
  sent: number;
  delivered: number;
  error?: string;
}

export async function throughput(subject: Subject, options: ThroughputOptions): Promise<ThroughputResult> {
  const { batch, prefetch, warmupMs, durationMs, maxBacklog } = options;
  let sent = 0;
  let delivered = 0;
  let failure: unknown;
  await subject.consume(function count() {
    delivered++;
  }, prefetch);

  const started = performance.now();
  const end = started + warmupMs + durationMs;
  async function produce() {
    const pause = yielder();
    let n = 0;
    while (performance.now() < end && failure === undefined) {
      if (sent - delivered >= maxBacklog) {
        await sleep(1);
        continue;
      }
      const messages: Message[] = [];
      for (let i = 0; i < batch; i++) messages.push(message(n++));
      await subject.send(messages);
      sent += batch;
      await pause();
    }
  }
  const producing = produce().catch((error: unknown) => {
    failure ??= error;
  });

  // Timers, not the producer, take the samples: the producer may be waiting on a full backlog.
  await sleep(warmupMs);
  const first = { at: performance.now(), delivered };
  await sleep(Math.max(0, end - performance.now()));
  const last = { at: performance.now(), delivered };
  await producing;
  return {
    perSecond: ((last.delivered - first.delivered) / (last.at - first.at)) * 1000,
    sent,
    delivered,
    ...(failure === undefined ? {} : { error: errorText(failure) }),
  };
}

const SPIN_BELOW_MS = 2;

export interface LatencyOptions {
  ratePerSecond: number;
  prefetch: number;
  warmupMs: number;
  durationMs: number;
  /** How long to wait for the last messages after the sending stops. */
  drainMs: number;
}

export interface LatencyResult {
  perSecond: number;
  sent: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How late the timer itself issued sends (p99), part of every figure above. */
  sendLagP99Ms: number;
  error?: string;
}

export async function latency(subject: Subject, options: LatencyOptions): Promise<LatencyResult> {
  const { ratePerSecond, prefetch, warmupMs, durationMs, drainMs } = options;
  const intervalMs = 1000 / ratePerSecond;
  const warmCount = Math.round((warmupMs * ratePerSecond) / 1000);
  const total = warmCount + Math.round((durationMs * ratePerSecond) / 1000);
  const samples: number[] = [];
  const sendLags: number[] = [];
  let delivered = 0;
  let failure: unknown;
  let first: number | undefined;
  let last = 0;
  await subject.consume(function record(m) {
    const now = performance.now();
    delivered++;
    if (m.n < warmCount) return;
    samples.push(now - m.t);
    first ??= now;
    last = now;
  }, prefetch);

  const fail = (error: unknown) => {
    failure ??= error;
  };
  // Scheduled on a timer and never awaited: a slow backend does not slow the arrivals down.
  const start = performance.now() + 1;
  let i = 0;
  while (i < total && failure === undefined) {
    const now = performance.now();
    for (; i < total && start + i * intervalMs <= now; i++) {
      const t = start + i * intervalMs;
      if (i >= warmCount) sendLags.push(now - t);
      subject.send([message(i, t)]).catch(fail);
    }
    // A 1 ms timer alone adds up to ~1.5 ms of lag at p99 (see the harness floor row); when the next
    // send is due sooner, yield one event-loop turn instead, so I/O and handlers still run in between.
    if (start + i * intervalMs - performance.now() > SPIN_BELOW_MS) await sleep(1);
    else await nextTurn();
  }
  const deadline = performance.now() + drainMs;
  while (delivered < total && performance.now() < deadline) await sleep(5);

  samples.sort((a, b) => a - b);
  sendLags.sort((a, b) => a - b);
  const measured = total - warmCount;
  return {
    perSecond: first === undefined || samples.length < 2 ? 0 : ((samples.length - 1) / (last - first)) * 1000,
    sent: measured,
    delivered: samples.length,
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    maxMs: samples.at(-1) ?? Number.NaN,
    sendLagP99Ms: percentile(sendLags, 0.99),
    ...(failure === undefined ? {} : { error: errorText(failure) }),
  };
}

/** Nearest rank on sorted values, NaN when empty (as bench/load.ts). */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
