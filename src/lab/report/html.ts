// report.html: one self-contained page (inline CSS and SVG, no script, no external asset) that a
// student can hand in. A pure function of the Report; every string is escaped.
import { barChart, escapeXml as esc, latencyChart, timelineChart } from './charts.ts';
import { ms, num, percent, worstText } from './format.ts';
import { commandsText, faultLog, HOP_HEAD, holdsAll, hopRows } from './markdown.ts';
import type { Report, ReportVariant } from './render.ts';

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f4f4f4}.holds{color:#166534}.fails{color:#b91c1c;font-weight:bold}
.note{color:#555}.warn{background:#fef3c7;padding:.5rem;border-left:4px solid #d97706}
svg{display:block;max-width:100%;height:auto;margin:.5rem 0 1.5rem;font:11px system-ui,sans-serif}
pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}`;

function table(head: string[], rows: string[][]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function summary({ metrics: m }: ReportVariant): string {
  return table(
    ['requests', 'availability', 'worst 1 s window', 'p50', 'p90', 'p99', 'p99.9', 'max', 'generator lag p99'],
    [
      [
        String(m.requests),
        percent(m.availability.overall),
        m.availability.worstWindow === null
          ? '–'
          : `${percent(m.availability.worstWindow)} at ${m.availability.worstWindowT} s`,
        ms(m.latencyMs.p50),
        ms(m.latencyMs.p90),
        ms(m.latencyMs.p99),
        ms(m.latencyMs.p999),
        ms(m.latencyMs.max),
        ms(m.generator.lagP99Ms),
      ],
    ],
  );
}

function verdict(v: ReportVariant): string {
  if (v.verdict.length === 0) return '<p class="note">The hypothesis states no threshold.</p>';
  const rows = v.verdict
    .map((l) => {
      const result = l.holds ? '<td class="holds">holds</td>' : '<td class="fails">FAILS</td>';
      return `<tr><td>${esc(l.line)}</td><td>${esc(l.threshold)}</td><td>${esc(l.measured)}</td>${result}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr><th>hypothesis</th><th>threshold</th><th>measured</th><th>result</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function faults(v: ReportVariant): string {
  if (v.metrics.faults.length === 0) return '';
  const rows = v.metrics.faults.map((f) => [
    `${num(f.offsetMs / 1000, 3)} s`,
    `${f.action} ${f.target}${f.ok ? '' : ' (failed)'}`,
    ms(f.detectionMs),
    `${ms(f.recoveryMs)}${f.recoveryBasis === 'any-success' ? ' (any success)' : ''}`,
    ms(f.steadyMs),
  ]);
  return table(['at', 'fault', 'detection', 'recovery', 'back to steady'], rows);
}

function variantSection(v: ReportVariant): string {
  const parts = [
    `<section><h2>${esc(v.name)}: <span class="${holdsAll(v) ? 'holds">holds' : 'fails">fails'}</span></h2>`,
  ];
  if (v.metrics.generator.starved) {
    parts.push(
      `<p class="warn">The generator was the bottleneck: send-time lag p99 ${esc(ms(v.metrics.generator.lagP99Ms))}, max ${esc(ms(v.metrics.generator.lagMaxMs))}.</p>`,
    );
  }
  parts.push(summary(v), '<h3>Verdict</h3>', verdict(v));
  parts.push('<h3>Over time</h3>', timelineChart(v.run, v.metrics));
  parts.push('<h3>Latency distribution</h3>', latencyChart(v.name, v.metrics));
  const f = faults(v);
  if (f !== '') parts.push('<h3>Faults</h3>', f);
  if (v.run.faults.length > 0) parts.push(`<p class="note">Faults carried out: ${esc(faultLog(v))}.</p>`);
  parts.push(
    `<p class="note">Detection worst: ${esc(worstText(v.metrics.detection))}; recovery worst: ${esc(worstText(v.metrics.recovery))}; back to steady worst: ${esc(worstText(v.metrics.steady))}.</p>`,
  );
  if (v.metrics.commands !== null) parts.push('<h3>Commands</h3>', `<p>${esc(commandsText(v.metrics.commands))}.</p>`);
  const hops = hopRows(v);
  if (hops.length > 0) {
    const traced = v.metrics.hops.filter((h) => h.count > 0);
    parts.push(
      '<h3>Hop timings</h3>',
      table(HOP_HEAD, hops),
      barChart(
        'p50 per hop',
        traced.map((h) => ({ label: h.hop, value: h.p50Ms, text: ms(h.p50Ms) })),
        Math.max(0, ...traced.map((h) => h.p50Ms ?? 0)),
      ),
    );
  }
  parts.push('</section>');
  return parts.join('\n');
}

function comparison(report: Report): string {
  const variants = report.variants;
  const availability = barChart(
    'Availability by variant',
    variants.map((v) => ({
      label: v.name,
      value: v.metrics.availability.overall,
      text: percent(v.metrics.availability.overall),
    })),
    1,
  );
  const p99 = barChart(
    'p99 latency by variant',
    variants.map((v) => ({ label: v.name, value: v.metrics.latencyMs.p99, text: ms(v.metrics.latencyMs.p99) })),
    Math.max(0, ...variants.map((v) => v.metrics.latencyMs.p99 ?? 0)),
  );
  const rows = variants.map((v) => [
    v.name,
    percent(v.metrics.availability.overall),
    percent(v.metrics.availability.worstWindow),
    ms(v.metrics.latencyMs.p99),
    worstText(v.metrics.detection),
    worstText(v.metrics.recovery),
    `${v.verdict.filter((l) => l.holds).length}/${v.verdict.length}`,
  ]);
  const head = ['variant', 'availability', 'worst window', 'p99', 'detection', 'recovery', 'lines holding'];
  return `<section><h2>Comparison</h2>\n${table(head, rows)}\n${availability}\n${p99}\n</section>`;
}

export function renderHtml(report: Report): string {
  const holds = report.variants.every(holdsAll);
  const precision = report.variants[0]?.metrics.latencyPrecision ?? '';
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${esc(report.experiment)}: archlab report</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${esc(report.experiment)}: <span class="${holds ? 'holds">every hypothesis line holds' : 'fails">some hypothesis line fails'}</span></h1>`,
    `<p class="note">Experiment file: ${esc(report.file ?? '(none)')}. Created ${esc(report.createdAt)}. Latency is measured from the scheduled send time (coordinated omission corrected); ${esc(precision)}.</p>`,
    ...report.variants.map(variantSection),
    report.variants.length > 1 ? comparison(report) : '',
    `<h2>Reproduce</h2><pre><code>${esc(report.command)}</code></pre>`,
    '</body></html>',
    '',
  ].join('\n');
}
