// report.md: summary table, verdict per variant, faults, variant comparison and the command that
// reproduces it. A pure function of the Report, so `archlab report <dir>` renders the same bytes.

import type { CommandAccounting } from '../types.ts';
import { ms, num, percent, worstText } from './format.ts';
import type { Report, ReportVariant } from './render.ts';

/** A table cell: no pipe or newline may break the row. */
function cell(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\r?\n/g, ' ');
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

export function holdsAll(variant: ReportVariant): boolean {
  return variant.verdict.every((line) => line.holds);
}

function summaryRow({ name, metrics: m }: ReportVariant): string[] {
  return [
    name,
    String(m.requests),
    percent(m.availability.overall),
    m.availability.worstWindow === null
      ? '–'
      : `${percent(m.availability.worstWindow)} at ${m.availability.worstWindowT} s`,
    ms(m.latencyMs.p50),
    ms(m.latencyMs.p99),
    ms(m.latencyMs.p999),
    ms(m.latencyMs.max),
    worstText(m.detection),
    worstText(m.recovery),
    worstText(m.steady),
    ms(m.generator.lagP99Ms),
  ];
}

/** Every fault of the run (request and broker faults too) with the moment it was carried out. */
export function faultLog(v: ReportVariant): string {
  return v.run.faults
    .map(
      (f) =>
        `${num((f.at - v.run.startedAt) / 1000, 3)} s ${f.action} ${f.target}${f.ok ? '' : ` (failed: ${f.error})`}`,
    )
    .join('; ');
}

function faultsTable(variant: ReportVariant): string {
  const rows = variant.metrics.faults.map((f) => [
    `${num(f.offsetMs / 1000, 3)} s`,
    `${f.action} ${f.target}${f.ok ? '' : ' (failed)'}`,
    ms(f.detectionMs),
    `${ms(f.recoveryMs)}${f.recoveryBasis === 'any-success' ? ' (any success: answers name no instance)' : ''}`,
    ms(f.steadyMs),
  ]);
  return table(['at', 'fault', 'detection', 'recovery', 'back to steady'], rows);
}

export function commandsText(c: CommandAccounting): string {
  const measured = (value: number | null, what: string) =>
    value === null ? `${what} not measured` : `${value} ${what}`;
  return [
    `${c.accepted} accepted`,
    `${c.persisted} persisted`,
    `${c.unverified} accepted for later and not checked`,
    measured(c.projected, 'projected'),
    `${c.deadLettered} dead-lettered`,
    `${c.lost} lost`,
    measured(c.duplicates, 'duplicates'),
    `command→query lag p50 ${ms(c.lagP50Ms)}, p99 ${ms(c.lagP99Ms)}`,
  ].join(', ');
}

export const HOP_HEAD = ['hop', 'requests', 'p50', 'p99', 'max'];

/** One row per hop that some traced request showed. */
export function hopRows(v: ReportVariant): string[][] {
  return v.metrics.hops
    .filter((h) => h.count > 0)
    .map((h) => [h.hop, String(h.count), ms(h.p50Ms), ms(h.p99Ms), ms(h.maxMs)]);
}

export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const verdictWord = report.variants.every(holdsAll) ? 'every hypothesis line holds' : 'some hypothesis line fails';
  out.push(`# ${cell(report.experiment)}: ${verdictWord}`, '');
  out.push(
    `Experiment file: ${report.file === null ? '(none)' : `\`${report.file}\``}. Created ${report.createdAt}.`,
    '',
  );
  out.push('## Summary', '');
  out.push(
    table(
      [
        'variant',
        'requests',
        'availability',
        'worst 1 s window',
        'p50',
        'p99',
        'p99.9',
        'max',
        'detection (worst)',
        'recovery (worst)',
        'back to steady (worst)',
        'generator lag p99',
      ],
      report.variants.map(summaryRow),
    ),
    '',
  );
  out.push(
    `Latency is measured from the scheduled send time (coordinated omission corrected); ${report.variants[0]?.metrics.latencyPrecision ?? ''}.`,
    '',
  );
  for (const v of report.variants) {
    if (v.metrics.generator.starved) {
      out.push(
        `**${cell(v.name)}: the generator was the bottleneck** (send-time lag p99 ${ms(v.metrics.generator.lagP99Ms)}, max ${ms(v.metrics.generator.lagMaxMs)}): its figures measure the load generator as much as the system.`,
        '',
      );
    }
  }
  for (const v of report.variants) {
    out.push(`## ${cell(v.name)}: ${holdsAll(v) ? 'holds' : 'fails'}`, '');
    if (v.verdict.length === 0) out.push('The hypothesis states no threshold.', '');
    else {
      const rows = v.verdict.map((l) => [l.line, l.threshold, l.measured, l.holds ? 'holds' : '**FAILS**']);
      out.push(table(['hypothesis', 'threshold', 'measured', 'result'], rows), '');
    }
    if (v.metrics.faults.length > 0) out.push(faultsTable(v), '');
    if (v.run.faults.length > 0) out.push(`Faults carried out: ${cell(faultLog(v))}.`, '');
    const outcomes = Object.entries(v.metrics.outcomes)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, n]) => `${k}: ${n}`);
    if (outcomes.length > 0) out.push(`Answers: ${cell(outcomes.join(', '))}.`, '');
    const counters = Object.entries(v.metrics.counters)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, n]) => `${k}: ${n}`);
    if (counters.length > 0) out.push(`Gateway counters: ${cell(counters.join(', '))}.`, '');
    const c = v.metrics.commands;
    if (c !== null) out.push(`Commands: ${commandsText(c)}.`, '');
    const hops = hopRows(v);
    if (hops.length > 0) {
      out.push('Hop timings (from the spans of the traced requests):', '', table(HOP_HEAD, hops), '');
    }
  }
  if (report.variants.length > 1) {
    out.push('## Comparison', '');
    const rows: [string, (v: ReportVariant) => string][] = [
      ['availability', (v) => percent(v.metrics.availability.overall)],
      ['worst 1 s window', (v) => percent(v.metrics.availability.worstWindow)],
      ['p99', (v) => ms(v.metrics.latencyMs.p99)],
      ['p99.9', (v) => ms(v.metrics.latencyMs.p999)],
      ['detection (worst)', (v) => worstText(v.metrics.detection)],
      ['recovery (worst)', (v) => worstText(v.metrics.recovery)],
      ['back to steady (worst)', (v) => worstText(v.metrics.steady)],
      ['hypothesis lines holding', (v) => `${v.verdict.filter((l) => l.holds).length}/${v.verdict.length}`],
    ];
    out.push(
      table(
        ['', ...report.variants.map((v) => v.name)],
        rows.map(([name, value]) => [name, ...report.variants.map(value)]),
      ),
      '',
    );
  }
  out.push('## Reproduce', '', '```sh', report.command, '```', '');
  return out.join('\n');
}
