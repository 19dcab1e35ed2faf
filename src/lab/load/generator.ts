// The lab's load generator: open-model streams sent on schedule to a loopback origin, one
// RequestRecord per request. Sending never waits for answers (an open model), so a slow or stalled
// system shows up as latency measured from the scheduled time, not as fewer requests: coordinated
// omission stays visible.
//
// Cost per request is kept small so one core sustains tens of thousands of requests per second:
// - one timer for the whole run: each tick sends every request whose time has come (no setTimeout per
//   request), expires the requests whose timeout has passed and reports progress;
// - client timeouts without a timer each: a stream's requests share one timeoutMs and go out in order,
//   so their deadlines are in order too and a FIFO per stream is checked from its head;
// - undici's dispatch() with a plain handler object (no promise, no body stream per request); only a
//   202's small JSON body is read, for its ticket.
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Dispatcher, Pool } from 'undici';
import type { GeneratorStats, RequestRecord } from '../types.ts';
import { hashString } from './random.ts';
import { type Schedule, scheduleDurationMs, scheduleProblems, sendOffsets } from './schedule.ts';
import { type BuiltRequest, compileTemplate, ID_PATTERN, type RequestTemplate } from './template.ts';

export interface LoadStream {
  /** Unique in the run; letters, digits, '.', '_', '-' (it is part of generated emails). */
  name: string;
  schedule: Schedule;
  template: RequestTemplate;
  /** Client timeout from the moment a request is dispatched; it then ends with status 0, 'timeout'. */
  timeoutMs: number;
}

export interface LoadProgress {
  elapsedMs: number;
  /** Requests dispatched so far. */
  sent: number;
  /** Requests that got an HTTP answer (any status). */
  answered: number;
  /** Answers outside 2xx/3xx plus requests that ended without one (status 0). */
  errors: number;
  /** Dispatched and not yet ended. */
  outstanding: number;
  /** Dispatch rate since the previous report, req/s. */
  rate: number;
}

export interface LoadOptions {
  /** http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port>; anything else is refused. */
  origin: string;
  streams: readonly LoadStream[];
  runId: string;
  /**
   * Epoch ms the schedule's offset 0 stands for (default: now), so load and a fault schedule can share
   * one start time. Sending starts then; a start in the past counts as lag.
   */
  startAt?: number;
  /** Seeds Poisson arrivals and template fields; each stream gets its own seed derived from it. */
  seed: number;
  onProgress?: (progress: LoadProgress) => void;
  /** Stops sending; requests still outstanding end with status 0, 'aborted', and the run resolves. */
  signal?: AbortSignal;
  /** See LOAD_DEFAULTS. */
  connections?: number;
  progressIntervalMs?: number;
  /**
   * Send a sampled W3C traceparent with every request (default true), one trace per request, so the
   * system's spans can be joined to the per-request log (RequestRecord.traceId).
   */
  traced?: boolean;
}

export interface LoadResult {
  /** In dispatch order; requests never sent (after an abort) have no record. */
  records: RequestRecord[];
  generator: GeneratorStats;
}

export const LOAD_DEFAULTS = Object.freeze({
  // Open model: every outstanding request holds a connection (pipelining 1), and beyond this many
  // they queue inside the pool, which shows as latency (from the scheduled time), not as lag. 256
  // covers 20k req/s at ~12 ms answers, and a stall of 256 requests before queueing; it stays well
  // under the usual 1024 open-files limit.
  connections: 256,
  progressIntervalMs: 1000,
  /** A 202 body larger than this is not parsed for its ticket (tickets come in small JSON bodies). */
  maxTicketBodyBytes: 4096,
  /** The starved rule: lag p99 over max(this, starvedIntervalShare × mean inter-arrival interval). */
  starvedFloorMs: 5,
  starvedIntervalShare: 0.1,
});

// The event-loop delay sampler's timer interval. Its histogram records whole intervals between
// samples (interval + delay), so the interval is subtracted from the percentile.
const LOOP_RESOLUTION_MS = 5;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The origin as a URL when it is a plain http origin on a loopback host; throws otherwise. */
export function loopbackOrigin(origin: string): URL {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new RangeError(`load origin ${origin} is not a URL`);
  }
  if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new RangeError(
      `load origin ${origin} refused: the lab only sends load to http on loopback (127.0.0.1, localhost, ::1)`,
    );
  }
  if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
    throw new RangeError(`load origin ${origin} must be an origin only (no path, query or credentials)`);
  }
  return url;
}

/** Lag p99 above which the generator, not the system, limited the rate (see LOAD_DEFAULTS). */
export function starvedThresholdMs(meanIntervalMs: number): number {
  return Math.max(LOAD_DEFAULTS.starvedFloorMs, LOAD_DEFAULTS.starvedIntervalShare * meanIntervalMs);
}

/** Nearest-rank percentile of ascending values; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const isError = (status: number) => status === 0 || status >= 400;

interface Counters {
  sent: number;
  answered: number;
  errors: number;
  outstanding: number;
  /** Called when the last outstanding request ends. */
  idle: () => void;
}

/** One request in flight: undici's handler, and the record it fills. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly record: RequestRecord;
  /** performance.now() at dispatch: the timeout counts from here. */
  readonly dispatchedAt: number;
  done = false;
  #counters: Counters;
  #controller: Dispatcher.DispatchController | null = null;
  #body: Buffer[] | null = null;
  #bodyBytes = 0;

  constructor(record: RequestRecord, dispatchedAt: number, counters: Counters) {
    this.record = record;
    this.dispatchedAt = dispatchedAt;
    this.#counters = counters;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Ended while still queued in the pool (timed out or aborted): do not send it at all.
    if (this.done) controller.abort(new Error(this.record.error ?? 'ended'));
    else this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (this.done) return;
    const record = this.record;
    record.status = statusCode;
    record.instance = first(headers['x-archlab-instance']);
    record.requestId = first(headers['x-request-id']);
    // A 202's body may carry a ticket; a command's 201/202 body the id of what it created.
    const readable = statusCode === 202 || (statusCode === 201 && record.command);
    if (readable && (first(headers['content-type']) ?? '').includes('json')) this.#body = [];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#body === null) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > LOAD_DEFAULTS.maxTicketBodyBytes) this.#body = null;
    else this.#body.push(chunk);
  }

  onResponseEnd(): void {
    if (this.done) return;
    if (this.#body !== null) {
      const { ticket, id } = fieldsOf(this.#body);
      this.record.ticket = ticket;
      this.record.answerId = id;
    }
    this.end(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.done) return;
    this.record.status = 0;
    this.end(errorName(error));
  }

  /** Ends the exchange without an answer (timeout, abort), cancelling the request if it went out. */
  cancel(reason: string): void {
    if (this.done) return;
    this.record.status = 0;
    this.end(reason);
    this.#controller?.abort(new Error(reason));
  }

  end(error: string | null): void {
    this.done = true;
    this.#controller = null;
    this.#body = null;
    const record = this.record;
    record.endedAt = performance.timeOrigin + performance.now();
    record.latencyMs = record.endedAt - record.scheduledAt;
    record.error = error;
    const counters = this.#counters;
    counters.outstanding--;
    if (record.status !== 0) counters.answered++;
    if (isError(record.status)) counters.errors++;
    if (counters.outstanding === 0) counters.idle();
  }
}

function first(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

/** The `ticket` and `id` string fields of a small JSON answer, when it has them. */
function fieldsOf(chunks: Buffer[]): { ticket: string | null; id: string | null } {
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ticket?: unknown; id?: unknown } | null;
    const text = (value: unknown) =>
      typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
    return { ticket: text(body?.ticket), id: text(body?.id) };
  } catch {
    return { ticket: null, id: null };
  }
}

/** A stable short name for a failure: the system error code (ECONNREFUSED) or undici's (UND_ERR_SOCKET). */
function errorName(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name || 'error';
}

interface StreamState {
  name: string;
  offsets: Float64Array;
  cursor: number;
  build: (index: number) => BuiltRequest;
  timeoutMs: number;
  /** Dispatched exchanges in dispatch (= deadline) order; ended ones are skipped when met. */
  inflight: (Exchange | undefined)[];
  head: number;
}

function prepare(options: LoadOptions): StreamState[] {
  const problems: string[] = [];
  if (!ID_PATTERN.test(options.runId)) problems.push(`runId ${options.runId} must match ${ID_PATTERN}`);
  if (!Number.isFinite(options.seed)) problems.push('seed must be a number');
  if (options.startAt !== undefined && !Number.isFinite(options.startAt)) problems.push('startAt must be epoch ms');
  if (options.streams.length === 0) problems.push('streams must not be empty');
  const names = new Set<string>();
  for (const stream of options.streams) {
    if (names.has(stream.name)) problems.push(`stream ${stream.name} appears twice`);
    names.add(stream.name);
    if (!(Number.isFinite(stream.timeoutMs) && stream.timeoutMs > 0)) {
      problems.push(`stream ${stream.name}: timeoutMs must be > 0`);
    }
    for (const problem of scheduleProblems(stream.schedule)) problems.push(`stream ${stream.name}: ${problem}`);
  }
  if (problems.length > 0) throw new RangeError(`invalid load: ${problems.join('; ')}`);
  return options.streams.map((stream) => {
    const seed = streamSeed(options.seed, stream.name);
    return {
      name: stream.name,
      offsets: sendOffsets(stream.schedule, seed),
      cursor: 0,
      build: compileTemplate(stream.template, { runId: options.runId, seed, stream: stream.name }),
      timeoutMs: stream.timeoutMs,
      inflight: [],
      head: 0,
    };
  });
}

/**
 * Runs the streams against `origin` and resolves once every scheduled request has ended (answered,
 * failed or timed out), or at once after `signal` aborts. Throws before sending anything when the
 * origin is not loopback or a stream is invalid.
 */
/** The seed a stream's schedule and templates use: the run's, mixed with the stream's name. */
export function streamSeed(seed: number, stream: string): number {
  return (seed ^ hashString(stream)) >>> 0;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const origin = loopbackOrigin(options.origin);
  const streams = prepare(options);
  const progressIntervalMs = options.progressIntervalMs ?? LOAD_DEFAULTS.progressIntervalMs;
  const total = streams.reduce((n, s) => n + s.offsets.length, 0);
  const spanMs = Math.max(...options.streams.map((s) => scheduleDurationMs(s.schedule)));
  const pool = new Pool(origin.origin, {
    connections: options.connections ?? LOAD_DEFAULTS.connections,
    pipelining: 1,
    // Timeouts are the generator's own (per stream, from dispatch); undici's would add a timer each.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const records: RequestRecord[] = [];
  // Trace ids: a random half per run, the request's dispatch number as the other half.
  const tracePrefix = options.traced === false ? undefined : randomBytes(8).toString('hex');
  const lags = new Float64Array(total);
  const counters: Counters = { sent: 0, answered: 0, errors: 0, outstanding: 0, idle: onIdle };
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loopDelay.enable();

  // All times inside are performance.now() readings; records get epoch ms (timeOrigin + now).
  const startedAt = options.startAt === undefined ? performance.now() : options.startAt - performance.timeOrigin;
  const epochStart = performance.timeOrigin + startedAt;
  let timer: NodeJS.Timeout | undefined;
  let aborted = false;
  let allSent = false;
  let done = false;
  let lastProgressAt = startedAt;
  let lastProgressSent = 0;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => {
    resolveFinished = resolve;
  });
  function finish() {
    done = true;
    clearTimeout(timer);
    timer = undefined;
    resolveFinished();
  }
  // The last answer ends the run at once, not at the next tick (which may be a timeout away).
  function onIdle() {
    if (allSent && !done) finish();
  }

  function send(stream: StreamState, index: number) {
    const request = stream.build(index);
    const now = performance.now();
    const scheduledAt = epochStart + stream.offsets[index]!;
    const sentAt = performance.timeOrigin + now;
    let traceId: string | null = null;
    if (tracePrefix !== undefined) {
      const number = (counters.sent + 1).toString(16).padStart(16, '0');
      traceId = tracePrefix + number;
      request.headers.traceparent = `00-${traceId}-${number}-01`;
    }
    const record: RequestRecord = {
      stream: stream.name,
      index,
      method: request.method,
      path: request.path,
      scheduledAt,
      sentAt,
      endedAt: Number.NaN,
      latencyMs: Number.NaN,
      status: 0,
      error: null,
      instance: null,
      ticket: null,
      answerId: null,
      requestId: null,
      traceId,
      command: request.command,
    };
    lags[counters.sent] = sentAt - scheduledAt;
    counters.sent++;
    counters.outstanding++;
    records.push(record);
    const exchange = new Exchange(record, now, counters);
    stream.inflight.push(exchange);
    pool.dispatch(
      {
        origin: origin.origin,
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body,
      },
      exchange,
    );
  }

  /** Times out the requests past their deadline; returns the earliest deadline still pending. */
  function expire(stream: StreamState, now: number): number {
    const { inflight, timeoutMs } = stream;
    while (stream.head < inflight.length) {
      const exchange = inflight[stream.head]!;
      if (!exchange.done) {
        const deadline = exchange.dispatchedAt + timeoutMs;
        if (deadline > now) break;
        exchange.cancel('timeout');
      }
      inflight[stream.head++] = undefined;
    }
    // Drop the consumed head now and then so the array does not grow for the whole run.
    if (stream.head > 4096 && stream.head * 2 > inflight.length) {
      stream.inflight = inflight.slice(stream.head);
      stream.head = 0;
    }
    const next = stream.inflight[stream.head];
    return next === undefined ? Number.POSITIVE_INFINITY : next.dispatchedAt + timeoutMs;
  }

  function report(now: number) {
    const seconds = (now - lastProgressAt) / 1000;
    const progress: LoadProgress = {
      elapsedMs: now - startedAt,
      sent: counters.sent,
      answered: counters.answered,
      errors: counters.errors,
      outstanding: counters.outstanding,
      rate: seconds > 0 ? (counters.sent - lastProgressSent) / seconds : 0,
    };
    lastProgressAt = now;
    lastProgressSent = counters.sent;
    options.onProgress?.(progress);
  }

  function tick() {
    timer = undefined;
    if (done) return;
    // Due as of the tick's start: requests that fall due while this tick sends wait for the next one,
    // so an overloaded generator still reads answers between ticks (and its lag shows).
    const elapsed = performance.now() - startedAt;
    let wake = Number.POSITIVE_INFINITY;
    let pending = false;
    for (const stream of streams) {
      const { offsets } = stream;
      while (stream.cursor < offsets.length && offsets[stream.cursor]! <= elapsed) send(stream, stream.cursor++);
      if (stream.cursor < offsets.length) {
        pending = true;
        wake = Math.min(wake, startedAt + offsets[stream.cursor]!);
      }
    }
    let now = performance.now();
    for (const stream of streams) wake = Math.min(wake, expire(stream, now));
    if (now - lastProgressAt >= progressIntervalMs) {
      report(now);
      now = performance.now();
    }
    allSent = !pending;
    if (done) return;
    if (allSent && counters.outstanding === 0) return finish();
    wake = Math.min(wake, lastProgressAt + progressIntervalMs);
    timer = setTimeout(tick, Math.max(0, wake - now));
  }

  function abort() {
    if (done) return;
    aborted = true;
    finish();
    for (const stream of streams) {
      for (let i = stream.head; i < stream.inflight.length; i++) stream.inflight[i]?.cancel('aborted');
    }
  }

  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    if (!done) {
      if (startedAt <= performance.now()) tick();
      else timer = setTimeout(tick, startedAt - performance.now());
    }
    await finished;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    clearTimeout(timer);
    loopDelay.disable();
    // Every request has ended by now; destroy rather than close so no straggler connection holds us.
    await pool.destroy();
  }
  if (!aborted) report(performance.now());

  const sorted = lags.subarray(0, counters.sent).sort();
  const lagP99Ms = percentile(sorted, 99);
  const meanIntervalMs = total > 0 ? spanMs / total : Number.POSITIVE_INFINITY;
  const generator: GeneratorStats = {
    lagP50Ms: percentile(sorted, 50),
    lagP99Ms,
    lagMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    starved: lagP99Ms > starvedThresholdMs(meanIntervalMs),
    loopDelayP99Ms: loopDelay.count > 0 ? Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS) : null,
  };
  return { records, generator };
}
