// Every figure of a variant, computed from its run's raw records and nothing else (pure: no clock,
// no IO), so a report can be recomputed and checked against an independent count.
import { type HopStats, hopStats } from '../traces.ts';
import type { CommandAccounting, FaultRecord, GeneratorStats, RequestRecord, RunRecord } from '../types.ts';
import { createHistogram, PRECISION_NOTE } from './histogram.ts';

const WINDOW_MS = 1000;
/** A window is back to steady when its throughput reaches this share of the pre-fault median. */
const STEADY_SHARE = 0.9;
/** The faults that take an instance away, and so have a detection and a recovery. */
const DISRUPTIVE = new Set(['kill', 'hang']);
/** Where the latency distribution chart samples the curve. */
const DISTRIBUTION_PERCENTILES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97, 99, 99.5, 99.9, 99.95, 99.99, 100];

/** One 1 s window, by scheduled send time; windows without requests are left out. */
export interface WindowPoint {
  /** Seconds from the run's start to the window's start. */
  t: number;
  requests: number;
  successes: number;
  /** requests − successes. */
  errors: number;
  availability: number;
  /** p99 latency of the requests scheduled in the window. */
  p99Ms: number;
  /** Successful answers that arrived (endedAt) in the window. */
  throughput: number;
}

export interface FaultOutcome {
  action: string;
  target: string;
  ok: boolean;
  at: number;
  /** at − run start. */
  offsetMs: number;
  /** Fault → first monitor transition of the target to down; null when none. */
  detectionMs: number | null;
  /** Fault → first success served by another instance of the target's service; null when none. */
  recoveryMs: number | null;
  /** "replacement": served by another instance; "any-success": the run's answers name no instance. */
  recoveryBasis: 'replacement' | 'any-success';
  /** Fault → end of the first later window back at ≥ 90 % of the pre-fault median throughput. */
  steadyMs: number | null;
}

/** The worst (largest) figure over the kill/hang faults, and how many faults have none. */
export interface Worst {
  worstMs: number | null;
  missing: number;
  faults: number;
}

export interface VariantMetrics {
  requests: number;
  successes: number;
  durationMs: number;
  availability: { overall: number | null; worstWindow: number | null; worstWindowT: number | null };
  latencyMs: {
    count: number;
    p50: number | null;
    p90: number | null;
    p99: number | null;
    p999: number | null;
    max: number | null;
  };
  latencyPrecision: string;
  /** The percentile curve (percentile 0..100 → ms) for the distribution chart. */
  distribution: { percentile: number; ms: number }[];
  windows: WindowPoint[];
  /** Every kill/hang fault, in time order. */
  faults: FaultOutcome[];
  detection: Worst;
  recovery: Worst;
  steady: Worst;
  /** Median throughput of the complete windows before the first kill/hang fault; null without. */
  steadyBaseline: number | null;
  /** Count of answers by status ("200", "503") or, for status 0, by error ("timeout"). */
  outcomes: Record<string, number>;
  generator: GeneratorStats;
  counters: Record<string, number>;
  commands: CommandAccounting | null;
  /** Per hop (client → gateway → service → store → bus → read model), from the requests' spans. */
  hops: HopStats[];
}

/** 2xx and 3xx: a 202 is a success, the command was accepted for later. */
export function isSuccess(request: Pick<RequestRecord, 'status'>): boolean {
  return request.status >= 200 && request.status < 400;
}

/** The service an instance belongs to: its name minus a trailing `-<n>` or `-spare-<n>`. */
export function serviceOf(instance: string): string {
  return instance.replace(/-(spare-)?\d+$/, '');
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function worstOf(values: (number | null)[]): Worst {
  const present = values.filter((v): v is number => v !== null);
  return {
    worstMs: present.length === 0 ? null : Math.max(...present),
    missing: values.length - present.length,
    faults: values.length,
  };
}

function computeWindows(run: RunRecord): WindowPoint[] {
  const byIndex = new Map<number, { requests: number; successes: number; latencies: number[]; throughput: number }>();
  const indexOf = (time: number) => Math.floor((time - run.startedAt) / WINDOW_MS);
  for (const request of run.requests) {
    const index = indexOf(request.scheduledAt);
    let w = byIndex.get(index);
    if (w === undefined) {
      w = { requests: 0, successes: 0, latencies: [], throughput: 0 };
      byIndex.set(index, w);
    }
    w.requests++;
    w.latencies.push(request.latencyMs);
    if (isSuccess(request)) w.successes++;
  }
  for (const request of run.requests) {
    if (!isSuccess(request)) continue;
    const w = byIndex.get(indexOf(request.endedAt));
    if (w !== undefined) w.throughput++;
  }
  return [...byIndex.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, w]) => {
      const histogram = createHistogram();
      for (const latency of w.latencies) histogram.record(latency);
      return {
        t: index,
        requests: w.requests,
        successes: w.successes,
        errors: w.requests - w.successes,
        availability: w.successes / w.requests,
        p99Ms: histogram.percentile(99),
        throughput: w.throughput,
      };
    });
}

function detectionOf(run: RunRecord, fault: FaultRecord): number | null {
  let first: number | null = null;
  for (const transition of run.transitions) {
    if (transition.instance !== fault.target || transition.to !== 'down') continue;
    const time = Date.parse(transition.time);
    if (time >= fault.at && (first === null || time < first)) first = time;
  }
  return first === null ? null : first - fault.at;
}

function recoveryOf(run: RunRecord, fault: FaultRecord, instancesKnown: boolean): number | null {
  const service = serviceOf(fault.target);
  let first: number | null = null;
  for (const request of run.requests) {
    if (!isSuccess(request) || request.endedAt <= fault.at) continue;
    if (instancesKnown) {
      if (request.instance === null || request.instance === fault.target) continue;
      if (serviceOf(request.instance) !== service) continue;
    }
    if (first === null || request.endedAt < first) first = request.endedAt;
  }
  return first === null ? null : first - fault.at;
}

function steadyOf(run: RunRecord, windows: WindowPoint[], fault: FaultRecord, baseline: number | null): number | null {
  if (baseline === null) return null;
  for (const w of windows) {
    const start = run.startedAt + w.t * WINDOW_MS;
    if (start < fault.at) continue;
    if (w.throughput >= STEADY_SHARE * baseline) return start + WINDOW_MS - fault.at;
  }
  return null;
}

export function computeMetrics(run: RunRecord): VariantMetrics {
  const histogram = createHistogram();
  let successes = 0;
  const outcomes: Record<string, number> = {};
  for (const request of run.requests) {
    histogram.record(request.latencyMs);
    if (isSuccess(request)) successes++;
    const key = request.status === 0 ? (request.error ?? 'no answer') : String(request.status);
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const requests = run.requests.length;
  const windows = computeWindows(run);

  let worstWindow: WindowPoint | null = null;
  for (const w of windows) if (worstWindow === null || w.availability < worstWindow.availability) worstWindow = w;

  const disruptive = run.faults.filter((f) => DISRUPTIVE.has(f.action)).sort((a, b) => a.at - b.at);
  const firstFault = disruptive[0];
  const steadyBaseline =
    firstFault === undefined
      ? null
      : median(windows.filter((w) => run.startedAt + (w.t + 1) * WINDOW_MS <= firstFault.at).map((w) => w.throughput));
  const instancesKnown = run.requests.some((r) => r.instance !== null);
  const faults: FaultOutcome[] = disruptive.map((fault) => ({
    action: fault.action,
    target: fault.target,
    ok: fault.ok,
    at: fault.at,
    offsetMs: fault.at - run.startedAt,
    detectionMs: detectionOf(run, fault),
    recoveryMs: recoveryOf(run, fault, instancesKnown),
    recoveryBasis: instancesKnown ? 'replacement' : 'any-success',
    steadyMs: steadyOf(run, windows, fault, steadyBaseline),
  }));

  const latency = (p: number) => (requests === 0 ? null : histogram.percentile(p));
  return {
    requests,
    successes,
    durationMs: run.endedAt - run.startedAt,
    availability: {
      overall: requests === 0 ? null : successes / requests,
      worstWindow: worstWindow?.availability ?? null,
      worstWindowT: worstWindow?.t ?? null,
    },
    latencyMs: {
      count: requests,
      p50: latency(50),
      p90: latency(90),
      p99: latency(99),
      p999: latency(99.9),
      max: requests === 0 ? null : histogram.maxMs,
    },
    latencyPrecision: PRECISION_NOTE,
    distribution:
      requests === 0
        ? []
        : DISTRIBUTION_PERCENTILES.map((percentile) => ({ percentile, ms: histogram.percentile(percentile) })),
    windows,
    faults,
    detection: worstOf(faults.map((f) => f.detectionMs)),
    recovery: worstOf(faults.map((f) => f.recoveryMs)),
    steady: worstOf(faults.map((f) => f.steadyMs)),
    steadyBaseline,
    outcomes,
    generator: { ...run.generator },
    counters: { ...run.counters },
    commands: run.commands === null ? null : { ...run.commands },
    hops: hopStats(run.requests),
  };
}
