// The verdict: one line per hypothesis field present, each comparing one measured figure with its
// threshold. Pure. A line whose figure was not measured fails: a hypothesis is only confirmed by
// evidence.
import type { Hypothesis } from '../types.ts';
import { NOT_MEASURED, num, percent } from './format.ts';
import type { VariantMetrics, Worst } from './metrics.ts';

/** Up to 3 decimals: a table may round, a verdict must not look as if it equalled its threshold. */
const ms = (value: number) => `${num(value, 3)} ms`;

export interface VerdictLine {
  /** The hypothesis field ("availability.overall", "latencyMs.p99", …). */
  line: string;
  holds: boolean;
  measured: string;
  threshold: string;
}

function atLeast(line: string, measured: number | null, threshold: number, shown: string): VerdictLine {
  return {
    line,
    holds: measured !== null && measured >= threshold,
    measured: measured === null ? NOT_MEASURED : shown,
    threshold: `≥ ${percent(threshold)}`,
  };
}

function atMost(line: string, measured: number | null, threshold: number, format: (v: number) => string): VerdictLine {
  return {
    line,
    holds: measured !== null && measured <= threshold,
    measured: measured === null ? NOT_MEASURED : format(measured),
    threshold: `≤ ${format(threshold)}`,
  };
}

/** Worst over the kill/hang faults; a fault without the figure fails the line. */
function worstLine(line: string, worst: Worst, threshold: number, missingWhat: string): VerdictLine {
  if (worst.faults === 0)
    return { line, holds: false, measured: `${NOT_MEASURED} (no kill/hang fault)`, threshold: `≤ ${ms(threshold)}` };
  const base = atMost(line, worst.worstMs, threshold, ms);
  if (worst.missing === 0) return base;
  const missing = `${worst.missing} of ${worst.faults} faults ${missingWhat}`;
  return { ...base, holds: false, measured: worst.worstMs === null ? missing : `${base.measured}; ${missing}` };
}

const LATENCY_FIELDS = ['p50', 'p90', 'p99', 'p999', 'max'] as const;

export function judge(metrics: VariantMetrics, hypothesis: Hypothesis): VerdictLine[] {
  const lines: VerdictLine[] = [];
  const { availability, latencyMs, commands } = metrics;
  const overall = hypothesis.availability?.overall;
  if (overall !== undefined) {
    const shown = `${percent(availability.overall)} (${metrics.successes}/${metrics.requests})`;
    lines.push(atLeast('availability.overall', availability.overall, overall, shown));
  }
  const worstWindow = hypothesis.availability?.worstWindow;
  if (worstWindow !== undefined) {
    const shown = `${percent(availability.worstWindow)} (window at ${availability.worstWindowT} s)`;
    lines.push(atLeast('availability.worstWindow', availability.worstWindow, worstWindow, shown));
  }
  for (const field of LATENCY_FIELDS) {
    const threshold = hypothesis.latencyMs?.[field];
    if (threshold !== undefined) lines.push(atMost(`latencyMs.${field}`, latencyMs[field], threshold, ms));
  }
  if (hypothesis.lostCommands !== undefined) {
    lines.push(atMost('lostCommands', commands?.lost ?? null, hypothesis.lostCommands, (v) => num(v, 0)));
  }
  if (hypothesis.detectionMs !== undefined) {
    lines.push(worstLine('detectionMs', metrics.detection, hypothesis.detectionMs, 'not detected'));
  }
  if (hypothesis.recoveryMs !== undefined) {
    lines.push(worstLine('recoveryMs', metrics.recovery, hypothesis.recoveryMs, 'not recovered'));
  }
  if (hypothesis.commandToQueryLagMs !== undefined) {
    lines.push(atMost('commandToQueryLagMs', commands?.lagP99Ms ?? null, hypothesis.commandToQueryLagMs, ms));
  }
  return lines;
}
