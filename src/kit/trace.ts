// W3C Trace Context (https://www.w3.org/TR/trace-context/): parse the incoming `traceparent`, start a
// child span for this hop, and hand the same trace to every outgoing call (HTTP headers, bus event
// headers) so a request can be followed across processes.
import { randomFillSync, randomUUID } from 'node:crypto';

export interface TraceContext {
  requestId: string;
  traceId: string;
  /** This hop's span. */
  spanId: string;
  /** The caller's span, when the request came with a traceparent. */
  parentSpanId: string | undefined;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** Request ids we accept from clients: printable, bounded, so they are safe to log and echo. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

// Ids come from a pool refilled 4 KiB at a time: one randomFillSync per 256 spans instead of one per
// id (it showed as ~4 % of the gateway's CPU when called per request).
const pool = Buffer.alloc(4096);
let used = pool.length;
function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += bytes;
  return pool.toString('hex', used - bytes, used);
}

export const newSpanId = () => randomHex(8);

let rootRatio = 1;
/** Share of the traces starting in this process that are sampled (spans recorded): 0..1. */
export function setRootSampleRatio(ratio: number): void {
  rootRatio = Math.min(1, Math.max(0, ratio));
}
const sampleRoot = () => rootRatio >= 1 || Math.random() < rootRatio;
export const newTraceId = () => randomHex(16);

export function parseTraceparent(value: string | undefined) {
  const match = value === undefined ? null : TRACEPARENT.exec(value.trim().toLowerCase());
  if (match === null || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, sampled: (Number.parseInt(match[3]!, 16) & 1) === 1 };
}

/** The context for a hop that received these headers (continuing their trace, or starting one). */
export function continueTrace(headers: Record<string, string | string[] | undefined>): TraceContext {
  const parent = parseTraceparent(first(headers.traceparent));
  const requestId = first(headers['x-request-id']);
  return {
    requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : randomUUID(),
    traceId: parent?.traceId ?? newTraceId(),
    spanId: newSpanId(),
    parentSpanId: parent?.spanId,
    sampled: parent?.sampled ?? sampleRoot(),
  };
}

/** A new span of the same trace under `trace`'s span (e.g. one upstream try of a gateway request). */
export function childOf(trace: TraceContext): TraceContext {
  return { ...trace, spanId: newSpanId(), parentSpanId: trace.spanId };
}

export function formatTraceparent(trace: Pick<TraceContext, 'traceId' | 'spanId' | 'sampled'>): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.sampled ? '01' : '00'}`;
}

/** Headers that carry this hop's trace to the next one. */
export function traceHeaders(trace: TraceContext): { traceparent: string; 'x-request-id': string } {
  return { traceparent: formatTraceparent(trace), 'x-request-id': trace.requestId };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
