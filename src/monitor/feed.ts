// The client side of the monitor's feed, for the gateway and the supervisor: follows
// GET <monitor>/events, hands over the snapshot (on every connection) and each transition, and
// reconnects forever until closed.
//
// - Reconnect: after a lost connection or a failed attempt, wait retryBaseMs · 2^(n−1) (± 20 %,
//   capped at retryMaxMs) for the n-th failure in a row; a connection that delivered its snapshot
//   resets n, so the first retry after a monitor restart comes fast.
// - A silent dead connection (a hung monitor, a cut link) is noticed when no byte, not even the
//   server's `: ping` comment, has arrived for idleTimeoutMs (default 3 × KEEPALIVE_MS); the same
//   watchdog bounds connecting and waiting for the answer.
// - disconnected(error) is called once per outage: when a connection that worked is lost, or when
//   the first attempt fails; not again for each failed retry until a snapshot has come through.
// Built on node:http rather than Node's EventSource (behind --experimental-eventsource in Node 24):
// EventSource hides comments, so it cannot see the keep-alive, and it fixes its own retry policy.
import http from 'node:http';
import https from 'node:https';
import { retryDelayMs } from '../bus/backoff.ts';
import type { Logger } from '../kit/logger.ts';
import { createEventStreamParser, KEEPALIVE_MS, type ServerSentEvent } from './event-stream.ts';
import type { MonitorSnapshot, Transition } from './types.ts';

export interface FeedHandlers {
  snapshot(snapshot: MonitorSnapshot): void;
  transition(transition: Transition): void;
  disconnected?(error: Error): void;
}

export interface FeedOptions {
  log: Logger;
  /** Aborting it is close(). */
  signal?: AbortSignal;
  retryBaseMs?: number;
  retryMaxMs?: number;
  idleTimeoutMs?: number;
}

export interface Feed {
  /** Stops following: drops the connection and any pending retry; no handler is called afterwards. */
  close(): void;
}

export const FEED_DEFAULTS = Object.freeze({ retryBaseMs: 100, retryMaxMs: 2_000, idleTimeoutMs: 3 * KEEPALIVE_MS });

export function followMonitor(url: string, handlers: FeedHandlers, options: FeedOptions): Feed {
  const { log } = options;
  const backoff = {
    baseMs: options.retryBaseMs ?? FEED_DEFAULTS.retryBaseMs,
    capMs: options.retryMaxMs ?? FEED_DEFAULTS.retryMaxMs,
    jitter: 0.2,
  };
  const idleTimeoutMs = options.idleTimeoutMs ?? FEED_DEFAULTS.idleTimeoutMs;
  const target = new URL('events', url.endsWith('/') ? url : `${url}/`);
  const client = target.protocol === 'https:' ? https : http;
  let closed = false;
  let failures = 0;
  /** disconnected() was called and no snapshot has come since. */
  let outage = false;
  let everConnected = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let dropCurrent: (() => void) | undefined;

  function call<T>(what: string, handler: ((value: T) => void) | undefined, value: T) {
    if (closed || handler === undefined) return;
    try {
      handler(value);
    } catch (error) {
      log.error({ err: error, feed: target.href }, `monitor feed ${what} handler failed`);
    }
  }

  function connect() {
    retryTimer = undefined;
    if (closed) return;
    let done = false;
    const req = client.get(target, {
      agent: false,
      headers: { accept: 'text/event-stream', 'cache-control': 'no-cache' },
    });
    const watchdog = setTimeout(
      () => fail(new Error(`no data from the monitor feed for ${idleTimeoutMs} ms`)),
      idleTimeoutMs,
    );

    function finish() {
      done = true;
      clearTimeout(watchdog);
      dropCurrent = undefined;
      req.destroy();
    }
    function fail(error: Error) {
      if (done) return;
      finish();
      if (!closed) lost(error);
    }
    dropCurrent = finish;

    req.on('error', fail);
    req.on('response', (res) => {
      const type = res.headers['content-type'] ?? '';
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        res.resume();
        fail(new Error(`monitor feed answered ${res.statusCode} ${type}`.trim()));
        return;
      }
      const parser = createEventStreamParser((event) => {
        if (!done) dispatch(event);
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (done) return;
        watchdog.refresh();
        parser.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => fail(new Error('monitor feed ended')));
      res.on('close', () => fail(new Error('monitor feed connection closed')));
    });
  }

  function dispatch(event: ServerSentEvent) {
    if (event.event !== 'snapshot' && event.event !== 'transition') return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch (error) {
      log.warn({ err: error, event: event.event }, 'monitor feed sent an event that is not JSON; ignored');
      return;
    }
    if (event.event === 'snapshot') {
      failures = 0;
      if (outage || !everConnected) log.info({ feed: target.href }, 'monitor feed connected');
      outage = false;
      everConnected = true;
      call('snapshot', handlers.snapshot, data as MonitorSnapshot);
    } else {
      call('transition', handlers.transition, data as Transition);
    }
  }

  function lost(error: Error) {
    failures++;
    const delayMs = retryDelayMs(failures, backoff);
    if (!outage) {
      outage = true;
      log.warn({ err: error, feed: target.href, retryInMs: delayMs }, 'monitor feed lost; reconnecting');
      call('disconnected', handlers.disconnected, error);
    } else {
      log.debug({ err: error, feed: target.href, failures, retryInMs: delayMs }, 'monitor feed still unreachable');
    }
    if (!closed) retryTimer = setTimeout(connect, delayMs);
  }

  function close() {
    if (closed) return;
    closed = true;
    clearTimeout(retryTimer);
    dropCurrent?.();
    options.signal?.removeEventListener('abort', close);
  }

  if (options.signal?.aborted) closed = true;
  else {
    options.signal?.addEventListener('abort', close, { once: true });
    connect();
  }
  return { close };
}
