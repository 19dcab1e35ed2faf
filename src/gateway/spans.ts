// The gateway's spans: one SERVER span per routed request and one CLIENT span per upstream try (whose
// id the upstream receives as its parent), so a trace shows retries and the time spent before each.
import { nowMs, recordSpan } from '../kit/spans.ts';
import type { TraceContext } from '../kit/trace.ts';
import type { Outcome } from './proxy.ts';

export function recordGatewaySpan(trace: TraceContext, startMs: number, method: string, route: string, status: number) {
  recordSpan({
    traceId: trace.traceId,
    spanId: trace.spanId,
    parentSpanId: trace.parentSpanId,
    name: `${method} ${route}`,
    kind: 'SERVER',
    startMs,
    endMs: nowMs(),
    attributes: { 'http.request.method': method, 'http.route': route, 'http.response.status_code': status },
    error: status >= 500 ? `HTTP ${status}` : undefined,
  });
}

export function recordAttemptSpan(attempt: TraceContext, startMs: number, instance: string, outcome: Outcome) {
  const failed = 'failure' in outcome;
  recordSpan({
    traceId: attempt.traceId,
    spanId: attempt.spanId,
    parentSpanId: attempt.parentSpanId,
    name: `try ${instance}`,
    kind: 'CLIENT',
    startMs,
    endMs: nowMs(),
    attributes: {
      'archlab.instance': instance,
      ...(failed ? { 'archlab.failure': outcome.failure } : { 'http.response.status_code': outcome.status }),
    },
    error: failed ? outcome.failure : undefined,
  });
}
