// Where the monitor's transitions go besides its own feed: the bus stream `monitor.events` and a
// JSON-lines file. Both writes are off the ping path: a transition is queued and written in order by
// a background writer that retries a failed write with backoff, so a broker outage neither blocks
// pings nor loses a transition. What is still unwritten at close (after a last attempt) is logged in
// full at error level, so nothing disappears silently.
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { retryDelayMs } from '../bus/backoff.ts';
import type { Bus, NewEvent } from '../bus/bus.ts';
import type { Logger } from '../kit/logger.ts';
import { MONITOR_STREAM, type Transition } from './types.ts';

export interface TransitionSink {
  readonly name: string;
  /** Queues the transition; never throws, never waits. */
  write(transition: Transition): void;
  /** Writes what is queued (one last attempt), then stops. */
  close(): Promise<void>;
}

export interface WriterOptions {
  log: Logger;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Most items queued; beyond it the oldest is dropped with an error log (a broker down for days). */
  maxQueued?: number;
}

export const WRITER_DEFAULTS = Object.freeze({ retryBaseMs: 100, retryMaxMs: 5_000, maxQueued: 10_000 });

/** Appends `instance.<to>` events to MONITOR_STREAM. Event ids are fixed when queued, so a retry after
 * an append that did land (but whose answer was lost) is deduplicated by the bus. */
export function busSink(bus: Bus, options: WriterOptions): TransitionSink {
  const writer = orderedWriter<NewEvent>('bus', (events) => bus.append(MONITOR_STREAM, events), options);
  return {
    name: 'bus',
    write: (transition) => writer.push({ id: randomUUID(), type: `instance.${transition.to}`, data: transition }),
    close: () => writer.close(),
  };
}

/** Appends one JSON line per transition to `file`, creating its folder. */
export async function fileSink(file: string, options: WriterOptions): Promise<TransitionSink> {
  await mkdir(path.dirname(file), { recursive: true });
  const writer = orderedWriter<string>('file', (lines) => appendFile(file, lines.join('')), options);
  return {
    name: 'file',
    write: (transition) => writer.push(`${JSON.stringify(transition)}\n`),
    close: () => writer.close(),
  };
}

interface OrderedWriter<T> {
  push(item: T): void;
  close(): Promise<void>;
}

/** Writes items in batches, in order, one write at a time; a failed batch is retried before anything after it. */
export function orderedWriter<T>(
  name: string,
  write: (items: T[]) => Promise<unknown>,
  options: WriterOptions,
): OrderedWriter<T> {
  const { log } = options;
  const backoff = {
    baseMs: options.retryBaseMs ?? WRITER_DEFAULTS.retryBaseMs,
    capMs: options.retryMaxMs ?? WRITER_DEFAULTS.retryMaxMs,
    jitter: 0.2,
  };
  const maxQueued = options.maxQueued ?? WRITER_DEFAULTS.maxQueued;
  const queue: T[] = [];
  let writing: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;

  function kick() {
    if (writing === undefined && retryTimer === undefined && queue.length > 0) writing = drain();
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, 100);
        try {
          await write(batch);
        } catch (error) {
          failures++;
          const delayMs = retryDelayMs(failures, backoff);
          log.error(
            { err: error, sink: name, queued: queue.length, failures, retryInMs: delayMs },
            'monitor sink write failed',
          );
          if (!closed) {
            retryTimer = setTimeout(() => {
              retryTimer = undefined;
              kick();
            }, delayMs);
          }
          return;
        }
        queue.splice(0, batch.length);
        if (failures > 0) log.info({ sink: name, failures }, 'monitor sink writes again');
        failures = 0;
      }
    } finally {
      writing = undefined;
    }
  }

  return {
    push(item) {
      if (closed) {
        log.error({ sink: name, item }, 'monitor sink closed: item not written');
        return;
      }
      queue.push(item);
      if (queue.length > maxQueued) {
        log.error({ sink: name, item: queue.shift(), maxQueued }, 'monitor sink queue full: oldest item dropped');
      }
      kick();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      await writing;
      kick();
      await writing;
      if (queue.length > 0) {
        log.error({ sink: name, items: queue.splice(0) }, 'monitor sink closed with items not written');
      }
    },
  };
}

export interface TextTarget {
  instance: string;
  service: string;
  url: string;
  /** The service's instances are served primary-backup: report the switches as seed 002 did. */
  primaryBackup: boolean;
}

/**
 * Seed 002's monitor log in its own words, one line per transition ("Server: <url> is down|up") and,
 * for primary-backup services, one per change of the instance that serves ("Se cambio al servidor:
 * <url>"): the first instance in declared order that is up.
 */
export async function textSink(
  file: string,
  targets: readonly TextTarget[],
  options: WriterOptions,
): Promise<TransitionSink> {
  await mkdir(path.dirname(file), { recursive: true });
  const writer = orderedWriter<string>('text', (lines) => appendFile(file, lines.join('')), options);
  const health = new Map<string, string>();
  const serving = new Map<string, string | undefined>();
  const line = (text: string) => writer.push(`${new Date().toISOString()} ${text}\n`);
  return {
    name: 'text',
    write(transition) {
      health.set(transition.instance, transition.to);
      const target = targets.find((t) => t.instance === transition.instance);
      if (target === undefined) return;
      line(`Server: ${target.url} is ${transition.to} (${target.instance})`);
      if (!target.primaryBackup) return;
      const first = targets.find((t) => t.service === target.service && health.get(t.instance) === 'up');
      if (first?.instance !== serving.get(target.service)) {
        serving.set(target.service, first?.instance);
        line(
          first === undefined
            ? `Sin servidor disponible para ${target.service}`
            : `Se cambio al servidor: ${first.url} (${first.instance})`,
        );
      }
    },
    close: () => writer.close(),
  };
}
