import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpanKind, SpanLine } from '../kit/spans.ts';
import { toNanos } from '../kit/spans.ts';
import { hopStats, traceAccounting, traceFacts } from './traces.ts';
import type { RequestRecord } from './types.ts';

const TRACE = 'f'.repeat(32);
const T0 = 1_800_000_000_000;

function span(
  spanId: string,
  parentSpanId: string,
  kind: SpanKind,
  name: string,
  instance: string,
  [from, to]: [number, number],
  attributes: SpanLine['attributes'] = {},
): SpanLine {
  return {
    traceId: TRACE,
    spanId,
    parentSpanId,
    name,
    kind,
    startTimeUnixNano: toNanos(T0 + from),
    endTimeUnixNano: toNanos(T0 + to),
    attributes,
    status: { code: 'OK' },
    resource: { 'service.name': instance.replace(/-\d+$/, ''), 'service.instance.id': instance },
  };
}

/** A command: gateway at 1 ms, a try at 1.5, the handler 2..6 with a commit ending at 4, on the bus at 7, projected at 12 and 15. */
function commandSpans(): SpanLine[] {
  return [
    span('g', 'client', 'SERVER', 'POST /api/venta', 'gateway', [1, 7]),
    span('t1', 'g', 'CLIENT', 'try sales-commands-1', 'gateway', [1.5, 6.5]),
    span('h1', 't1', 'SERVER', 'POST /venta/:id', 'sales-commands-1', [2, 6]),
    span('c1', 'h1', 'INTERNAL', 'store commit', 'sales-commands-1', [3, 4]),
    span('b1', 'h1', 'PRODUCER', 'bus append sales', 'sales-commands-1', [6.5, 7], { 'messaging.message.id': 'e1' }),
    span('p1', 'h1', 'CONSUMER', 'project sales', 'sales-queries-1', [11, 12], { 'messaging.message.id': 'e1' }),
    span('p2', 'h1', 'CONSUMER', 'project sales', 'sales-queries-2', [14, 15], { 'messaging.message.id': 'e1' }),
  ];
}

function record(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    stream: 's',
    index: 0,
    method: 'POST',
    path: '/api/venta/1',
    scheduledAt: T0,
    sentAt: T0 + 0.25,
    endedAt: T0 + 8,
    latencyMs: 8,
    status: 201,
    error: null,
    instance: 'sales-commands-1',
    ticket: null,
    requestId: null,
    traceId: TRACE,
    command: true,
    ...overrides,
  };
}

const close = (actual: number | null, expected: number) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

test('a command trace gives the moments of each hop', () => {
  const facts = traceFacts(commandSpans()).get(TRACE)!;
  assert.equal(facts.tries, 1);
  close(facts.gatewayAt, T0 + 1);
  close(facts.serviceAt, T0 + 2);
  close(facts.serviceEndAt, T0 + 6);
  close(facts.committedAt, T0 + 4);
  close(facts.onBusAt, T0 + 7);
  close(facts.projectedAt, T0 + 12);
  assert.equal(facts.executions, 1);
  assert.equal(facts.repeatedProjections, 0);

  const request = record({ trace: facts });
  const hops = Object.fromEntries(hopStats([request]).map((h) => [h.hop, h.p50Ms]));
  close(hops['client → gateway']!, 0.75);
  close(hops['gateway → service']!, 1);
  close(hops['service → store commit']!, 2);
  close(hops['store → bus']!, 3);
  close(hops['bus → read model']!, 5);
  close(hops['service → client (answer)']!, 2);

  const accounting = traceAccounting([request]);
  assert.equal(accounting.projected, 1);
  assert.equal(accounting.duplicates, 0);
  close(accounting.lagP50Ms, 8); // commit end 4 → first projection end 12
});

test('a retried command that ran on two instances, and an event applied twice, are duplicates', () => {
  const retried = [
    ...commandSpans(),
    // The first instance committed and produced its event, then its answer was lost: the gateway tried again.
    span('t0', 'g', 'CLIENT', 'try sales-commands-2', 'gateway', [1.1, 1.4]),
    span('h0', 't0', 'SERVER', 'POST /venta/:id', 'sales-commands-2', [1.2, 1.3]),
    span('b0', 'h0', 'PRODUCER', 'bus append sales', 'sales-commands-2', [5, 5.5], { 'messaging.message.id': 'e0' }),
  ];
  const facts = traceFacts(retried).get(TRACE)!;
  assert.equal(facts.tries, 2);
  assert.equal(facts.executions, 2);
  close(facts.serviceAt, T0 + 2); // the handler of the last try answered
  assert.equal(traceAccounting([record({ trace: facts })]).duplicates, 1);

  const reapplied = [
    ...commandSpans(),
    span('p3', 'h1', 'CONSUMER', 'project sales', 'sales-queries-1', [20, 21], { 'messaging.message.id': 'e1' }),
  ];
  const again = traceFacts(reapplied).get(TRACE)!;
  assert.equal(again.executions, 1);
  assert.equal(again.repeatedProjections, 1);
  assert.equal(traceAccounting([record({ trace: again })]).duplicates, 1);
});

test('an answer replayed for an Idempotency-Key (no new event) is not a second execution', () => {
  const replayed = [
    ...commandSpans(),
    span('t2', 'g', 'CLIENT', 'try sales-commands-1', 'gateway', [6.6, 6.9]),
    span('h2', 't2', 'SERVER', 'POST /venta/:id', 'sales-commands-1', [6.7, 6.8]),
  ];
  assert.equal(traceFacts(replayed).get(TRACE)!.executions, 1);
});

test('untraced requests leave hops empty and the projection unmeasured', () => {
  const untraced = record({ traceId: null, trace: null });
  assert.deepEqual(
    hopStats([untraced]).map((h) => h.count),
    [0, 0, 0, 0, 0, 0],
  );
  assert.deepEqual(traceAccounting([untraced]), { projected: null, duplicates: null, lagP50Ms: null, lagP99Ms: null });
  // A command whose event never reached a read model is counted, not projected.
  const spans = commandSpans().filter((s) => s.kind !== 'CONSUMER');
  const facts = traceFacts(spans).get(TRACE)!;
  const accounting = traceAccounting([record({ trace: facts })]);
  assert.equal(accounting.projected, 0);
  assert.equal(accounting.lagP50Ms, null);
});
