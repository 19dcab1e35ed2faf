// What a request's spans say about it (pure): the moments it reached the gateway, the service, the
// store, the bus and a read model, how many upstream tries it took, and whether the command ran or was
// projected more than once. The runner reads the spans the system wrote (<data>/spans/*.jsonl) and
// attaches these facts to each request of the per-request log; the report computes hop timings and
// the command→query lag from them.
import { fromNanos, type SpanLine } from '../kit/spans.ts';
import { percentile } from './load/generator.ts';
import type { CommandAccounting, RequestRecord, TraceFacts } from './types.ts';

const GATEWAY = 'gateway';

/** Trace id → what its spans say. */
export function traceFacts(spans: Iterable<SpanLine>): Map<string, TraceFacts> {
  const byTrace = new Map<string, SpanLine[]>();
  for (const span of spans) {
    let list = byTrace.get(span.traceId);
    if (list === undefined) {
      list = [];
      byTrace.set(span.traceId, list);
    }
    list.push(span);
  }
  const facts = new Map<string, TraceFacts>();
  for (const [traceId, list] of byTrace) facts.set(traceId, factsOf(list));
  return facts;
}

const start = (span: SpanLine) => fromNanos(span.startTimeUnixNano);
const end = (span: SpanLine) => fromNanos(span.endTimeUnixNano);
const earliest = (values: number[]) => (values.length === 0 ? null : Math.min(...values));

function factsOf(spans: SpanLine[]): TraceFacts {
  const gateway = spans.find((s) => s.kind === 'SERVER' && s.resource['service.name'] === GATEWAY);
  const tries = spans.filter((s) => s.kind === 'CLIENT' && s.resource['service.name'] === GATEWAY);
  const tryIds = new Set(tries.map((s) => s.spanId));
  // The service's handler spans for this request: children of the gateway's tries (or, for a request
  // sent straight to a service, the spans with no parent in the trace).
  const known = new Set(spans.map((s) => s.spanId));
  const handlers = spans
    .filter(
      (s) =>
        s.kind === 'SERVER' &&
        s.resource['service.name'] !== GATEWAY &&
        (tryIds.has(s.parentSpanId ?? '') || (tries.length === 0 && !known.has(s.parentSpanId ?? ''))),
    )
    .sort((a, b) => start(a) - start(b));
  const answered = handlers.at(-1);
  const commits = spans.filter((s) => s.name === 'store commit' && s.status.code === 'OK');
  const appends = spans.filter((s) => s.kind === 'PRODUCER' && s.name.startsWith('bus append'));
  const projections = spans.filter((s) => s.kind === 'CONSUMER' && s.name.startsWith('project '));
  // A command ran once per handler span whose event reached the bus (a replayed answer adds none).
  const producers = new Set(appends.map((s) => s.parentSpanId));
  const executions = handlers.filter((s) => producers.has(s.spanId)).length;
  const projected = new Set<string>();
  let repeatedProjections = 0;
  for (const span of projections) {
    const key = `${span.resource['service.instance.id']} ${span.attributes['messaging.message.id']}`;
    if (projected.has(key)) repeatedProjections++;
    projected.add(key);
  }
  return {
    gatewayAt: gateway === undefined ? null : start(gateway),
    tries: tries.length,
    serviceAt: answered === undefined ? null : start(answered),
    serviceEndAt: answered === undefined ? null : end(answered),
    committedAt: earliest(commits.map(end)),
    onBusAt: earliest(appends.map(end)),
    projectedAt: earliest(projections.map(end)),
    executions,
    repeatedProjections,
  };
}

type Ends = (request: RequestRecord, facts: TraceFacts) => [number | null, number | null];

/** The hops of a request, from → to; a hop is unknown when one of its ends was not traced. */
export const HOPS: readonly { name: string; ends: Ends }[] = [
  { name: 'client → gateway', ends: (r, f) => [r.sentAt, f.gatewayAt] },
  { name: 'gateway → service', ends: (_r, f) => [f.gatewayAt, f.serviceAt] },
  { name: 'service → store commit', ends: (_r, f) => [f.serviceAt, f.committedAt] },
  { name: 'store → bus', ends: (_r, f) => [f.committedAt, f.onBusAt] },
  { name: 'bus → read model', ends: (_r, f) => [f.onBusAt, f.projectedAt] },
  { name: 'service → client (answer)', ends: (r, f) => [f.serviceEndAt, r.endedAt] },
];

export function hopMs(hop: { ends: Ends }, request: RequestRecord, facts: TraceFacts): number | null {
  const [from, to] = hop.ends(request, facts);
  return from === null || to === null ? null : to - from;
}

/** Command → query lag of one request: its first commit to the first read model that applied its event. */
export function lagOf(facts: TraceFacts): number | null {
  return facts.committedAt === null || facts.projectedAt === null ? null : facts.projectedAt - facts.committedAt;
}

/** Whether the spans show this command ran twice, or an event of it was applied twice by one read model. */
export function isDuplicate(facts: TraceFacts): boolean {
  return facts.executions > 1 || facts.repeatedProjections > 0;
}

/** What the spans add to the command accounting of the accepted commands. */
export function traceAccounting(
  accepted: readonly RequestRecord[],
): Pick<CommandAccounting, 'projected' | 'duplicates' | 'lagP50Ms' | 'lagP99Ms'> {
  const traced = accepted.filter((r) => r.trace != null).map((r) => r.trace!);
  // Nothing of theirs reached the bus: there was nothing to project, and no duplicate to see.
  if (!traced.some((f) => f.onBusAt !== null)) {
    return { projected: null, duplicates: null, lagP50Ms: null, lagP99Ms: null };
  }
  const lags = traced
    .map(lagOf)
    .filter((lag): lag is number => lag !== null)
    .sort((a, b) => a - b);
  return {
    projected: traced.filter((f) => f.projectedAt !== null).length,
    duplicates: traced.filter(isDuplicate).length,
    lagP50Ms: lags.length === 0 ? null : percentile(lags, 50),
    lagP99Ms: lags.length === 0 ? null : percentile(lags, 99),
  };
}

export interface HopStats {
  hop: string;
  /** Requests whose trace had both ends of the hop. */
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** p50 / p99 / max of every hop over the requests whose spans show it. */
export function hopStats(requests: readonly RequestRecord[]): HopStats[] {
  return HOPS.map((hop) => {
    const values = requests
      .filter((r) => r.trace != null)
      .map((r) => hopMs(hop, r, r.trace!))
      .filter((ms): ms is number => ms !== null)
      .sort((a, b) => a - b);
    return {
      hop: hop.name,
      count: values.length,
      p50Ms: values.length === 0 ? null : percentile(values, 50),
      p99Ms: values.length === 0 ? null : percentile(values, 99),
      maxMs: values.at(-1) ?? null,
    };
  });
}
