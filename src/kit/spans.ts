// Spans: one record per hop of a traced request (gateway, upstream try, service handler, store commit,
// bus append, projection, queue delivery), written as OpenTelemetry-shaped JSON lines to
// `<data>/spans/<instance>.jsonl` and, when OTEL_EXPORTER_OTLP_ENDPOINT is set, exported over OTLP/HTTP
// (JSON encoding) to `<endpoint>/v1/traces`. The lab reads the lines to time each hop of a request.
//
// Only sampled traces are recorded (the W3C flag); a trace that starts here is sampled with the
// process's root ratio. Spans are buffered and written every FLUSH_MS or FLUSH_LINES, so a SIGKILLed
// process loses at most its last FLUSH_MS of spans; a file past MAX_FILE_BYTES is rotated once, so disk
// use stays bounded. A process that configured nothing records nothing.
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { newSpanId, parseTraceparent, setRootSampleRatio, type TraceContext } from './trace.ts';

export type SpanKind = 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';

/** What a span needs to know about its place in a trace. */
export interface SpanContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: SpanKind;
  /** Epoch milliseconds with sub-millisecond precision (see nowMs). */
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  error?: string | undefined;
}

/** One line of `<instance>.jsonl`: the OTLP span fields, times as decimal strings of nanoseconds. */
export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  status: { code: 'OK' | 'ERROR'; message?: string };
  resource: { 'service.name': string; 'service.instance.id': string };
}

export interface Tracer {
  record(span: SpanRecord): void;
  /** Writes (and exports) what is buffered. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const FLUSH_MS = 200;
const FLUSH_LINES = 512;
/** A span file past this size is rotated to `<instance>.1.jsonl`, so each process keeps at most twice this. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Spans kept for the OTLP exporter while the collector does not answer; older ones are dropped. */
const EXPORT_BACKLOG = 10_000;

let tracer: Tracer | undefined;
const current = new AsyncLocalStorage<SpanContext>();

/** Wall-clock epoch milliseconds with the monotonic clock's resolution (comparable across processes). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/** True when this process records spans. */
export const tracing = (): boolean => tracer !== undefined;

export function recordSpan(span: SpanRecord): void {
  tracer?.record(span);
}

/** The span the current async call chain runs in (a request handler, a delivery), if any. */
export function currentSpan(): SpanContext | undefined {
  return current.getStore();
}

/** Runs fn with `span` as the current span (store commits inside it become its children). */
export function runInSpan<T>(span: SpanContext, fn: () => T): T {
  return current.run(span, fn);
}

/** The trace a bus message's headers carry (its `traceparent`), if sampled. */
export function parentFromHeaders(headers: Record<string, string> | undefined): SpanContext | undefined {
  const parent = parseTraceparent(headers?.traceparent);
  return parent?.sampled ? parent : undefined;
}

/**
 * Times fn as a child span of `parent` (when there is a sampled parent and this process records
 * spans); fn runs as the current span, so nested spans hang under it.
 */
export async function withSpan<T>(
  parent: SpanContext | undefined,
  name: string,
  kind: SpanKind,
  attributes: SpanRecord['attributes'],
  fn: (span: SpanContext | undefined) => Promise<T>,
): Promise<T> {
  if (tracer === undefined || parent === undefined || !parent.sampled) return fn(undefined);
  const span: SpanContext = { traceId: parent.traceId, spanId: newSpanId(), sampled: true };
  const startMs = nowMs();
  let error: string | undefined;
  try {
    return await current.run(span, () => fn(span));
  } catch (thrown) {
    error = (thrown as Error).message;
    throw thrown;
  } finally {
    recordSpan({
      traceId: span.traceId,
      spanId: span.spanId,
      parentSpanId: parent.spanId,
      name,
      kind,
      startMs,
      endMs: nowMs(),
      attributes,
      error,
    });
  }
}

/** `trace` as the current span when one of the same trace is running (so calls made in it hang under it). */
export function withinCurrentSpan(trace: TraceContext): TraceContext {
  const span = current.getStore();
  return span === undefined || span.traceId !== trace.traceId ? trace : { ...trace, spanId: span.spanId };
}

/** Times a queue delivery's handler as a CONSUMER span under the trace its job headers carry. */
export function consumeInSpan<T>(
  headers: Record<string, string> | undefined,
  name: string,
  attributes: SpanRecord['attributes'],
  fn: () => Promise<T>,
): Promise<T> {
  return withSpan(parentFromHeaders(headers), name, 'CONSUMER', attributes, fn);
}

/** Times a send to the bus as a PRODUCER span under the current span (the request being handled). */
export function produceInSpan<T>(name: string, attributes: SpanRecord['attributes'], fn: () => Promise<T>): Promise<T> {
  return withSpan(currentSpan(), name, 'PRODUCER', attributes, fn);
}

export interface SpanFileOptions {
  dataDir: string;
  service: string;
  instance: string;
  /** OTLP/HTTP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); spans are POSTed to `<endpoint>/v1/traces`. */
  otlpEndpoint?: string | undefined;
  /** Share of traces starting in this process that are sampled (0..1, default 1). */
  rootSampleRatio?: number;
  /** Rotation size (default 64 MiB). */
  maxFileBytes?: number;
}

/** Makes this process record spans to `<dataDir>/spans/<instance>.jsonl` (and OTLP when configured). */
export function startSpanFile(options: SpanFileOptions): Tracer {
  const dir = path.join(options.dataDir, 'spans');
  // Opened at the first write, so a process that never records a span leaves no empty file.
  let fd: number | undefined;
  const resource = { 'service.name': options.service, 'service.instance.id': options.instance };
  const resourceJson = JSON.stringify(resource);
  const exporter = options.otlpEndpoint ? otlpExporter(options.otlpEndpoint, resource) : undefined;
  let lines: string[] = [];
  let closed = false;
  const file = path.join(dir, `${options.instance}.jsonl`);
  const maxBytes = options.maxFileBytes ?? MAX_FILE_BYTES;
  let size = 0;
  const write = () => {
    if (lines.length === 0) return;
    if (fd !== undefined && size >= maxBytes) {
      // Bounded on disk: the full file becomes `<instance>.1.jsonl` (replacing the one before).
      closeSync(fd);
      fd = undefined;
      renameSync(file, path.join(dir, `${options.instance}.1.jsonl`));
    }
    if (fd === undefined) {
      mkdirSync(dir, { recursive: true });
      fd = openSync(file, 'a');
      size = fstatSync(fd).size;
    }
    // One synchronous write of a few KB every FLUSH_MS: simpler than a stream and loses no order.
    size += writeSync(fd, `${lines.join('\n')}\n`);
    lines = [];
  };
  const timer = setInterval(() => {
    write();
    void exporter?.flush();
  }, FLUSH_MS);
  timer.unref();
  const created: Tracer = {
    record(span) {
      if (closed) return;
      lines.push(lineText(span, resourceJson));
      exporter?.add(toLine(span, resource));
      if (lines.length >= FLUSH_LINES) write();
    },
    async flush() {
      write();
      await exporter?.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      write();
      if (fd !== undefined) closeSync(fd);
      await exporter?.flush();
      if (tracer === created) tracer = undefined;
    },
  };
  tracer = created;
  setRootSampleRatio(options.rootSampleRatio ?? 1);
  return created;
}

export function toLine(span: SpanRecord, resource: SpanLine['resource']): SpanLine {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId === undefined ? {} : { parentSpanId: span.parentSpanId }),
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: toNanos(span.startMs),
    endTimeUnixNano: toNanos(span.endMs),
    attributes: span.attributes,
    status: span.error === undefined ? { code: 'OK' } : { code: 'ERROR', message: span.error },
    resource,
  };
}

/**
 * The JSON text of toLine(span), built by hand (ids and times need no escaping; the resource is
 * serialised once): a gateway writing two spans per request spends noticeably less than with
 * JSON.stringify of the whole object.
 */
export function lineText(span: SpanRecord, resourceJson: string): string {
  const parent = span.parentSpanId === undefined ? '' : `,"parentSpanId":"${span.parentSpanId}"`;
  const status =
    span.error === undefined ? '{"code":"OK"}' : `{"code":"ERROR","message":${JSON.stringify(span.error)}}`;
  return `{"traceId":"${span.traceId}","spanId":"${span.spanId}"${parent},"name":${JSON.stringify(span.name)},"kind":"${span.kind}","startTimeUnixNano":"${toNanos(span.startMs)}","endTimeUnixNano":"${toNanos(span.endMs)}","attributes":${JSON.stringify(span.attributes)},"status":${status},"resource":${resourceJson}}`;
}

/** Epoch ms (fractional, ≥ 0) as the decimal string of integer nanoseconds. */
export function toNanos(ms: number): string {
  let whole = Math.floor(ms);
  let nanos = Math.round((ms - whole) * 1e6);
  if (nanos === 1_000_000) {
    whole += 1;
    nanos = 0;
  }
  return whole === 0 ? String(nanos) : `${whole}${String(nanos).padStart(6, '0')}`;
}

/** Nanosecond decimal string back to epoch ms (fractional). */
export function fromNanos(nanos: string): number {
  const value = BigInt(nanos);
  return Number(value / 1_000_000n) + Number(value % 1_000_000n) / 1e6;
}

const OTLP_KIND: Record<SpanKind, number> = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 };

/** Batches spans to an OTLP/HTTP collector (JSON encoding); a collector that is down costs dropped spans only. */
function otlpExporter(endpoint: string, resource: SpanLine['resource']) {
  const url = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  let pending: SpanLine[] = [];
  let sending: Promise<void> | undefined;
  const attributes = (values: Record<string, string | number | boolean>) =>
    Object.entries(values).map(([key, value]) => ({
      key,
      value:
        typeof value === 'string'
          ? { stringValue: value }
          : typeof value === 'boolean'
            ? { boolValue: value }
            : Number.isInteger(value)
              ? { intValue: String(value) }
              : { doubleValue: value },
    }));
  async function send(batch: SpanLine[]) {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: attributes(resource) },
          scopeSpans: [
            {
              scope: { name: 'archlab' },
              spans: batch.map((line) => ({
                traceId: line.traceId,
                spanId: line.spanId,
                ...(line.parentSpanId === undefined ? {} : { parentSpanId: line.parentSpanId }),
                name: line.name,
                kind: OTLP_KIND[line.kind],
                startTimeUnixNano: line.startTimeUnixNano,
                endTimeUnixNano: line.endTimeUnixNano,
                attributes: attributes(line.attributes),
                status: line.status.code === 'OK' ? { code: 1 } : { code: 2, message: line.status.message },
              })),
            },
          ],
        },
      ],
    };
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`OTLP collector answered ${res.status}`);
  }
  return {
    add(line: SpanLine) {
      pending.push(line);
      if (pending.length > EXPORT_BACKLOG) pending = pending.slice(-EXPORT_BACKLOG);
    },
    flush(): Promise<void> {
      if (sending !== undefined || pending.length === 0) return sending ?? Promise.resolve();
      const batch = pending;
      pending = [];
      sending = send(batch)
        .catch(() => {
          // Kept for the next flush (bounded by EXPORT_BACKLOG): the collector may come back.
          pending = [...batch, ...pending].slice(-EXPORT_BACKLOG);
        })
        .finally(() => {
          sending = undefined;
        });
      return sending;
    },
  };
}
