// Hand-written inline SVG charts for report.html: no library, no script, no external asset. Every
// string that reaches the markup goes through escapeXml; every number through fixed formatting, so
// the same report renders to the same bytes.
import type { RunRecord } from '../types.ts';
import { num } from './format.ts';
import type { VariantMetrics } from './metrics.ts';

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const W = 900;
const H = 320;
const M = { left: 56, right: 64, top: 24, bottom: 44 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
const COLOR = {
  throughput: '#2563eb',
  errors: '#dc2626',
  p99: '#7c3aed',
  fault: '#b91c1c',
  down: '#ea580c',
  up: '#16a34a',
};

const f1 = (v: number) => num(v, 1);

/** A round upper bound and its ticks (0, step, 2·step, …) for a linear axis. */
function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step - 1e-9; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

function svgOpen(label: string, height = H): string {
  const title = escapeXml(label);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${title}"><title>${title}</title>`;
}

function polyline(points: [number, number][], color: string, dashed = false): string {
  if (points.length === 0) return '';
  const d = points.map(([x, y]) => `${f1(x)},${f1(y)}`).join(' ');
  const dash = dashed ? ' stroke-dasharray="5 3"' : '';
  return `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash} points="${d}"/>`;
}

function yAxis(ticks: number[], side: 'left' | 'right', unit: string, color: string): string {
  const top = ticks.at(-1)!;
  const x = side === 'left' ? M.left : M.left + PW;
  const anchor = side === 'left' ? 'end' : 'start';
  const dx = side === 'left' ? -6 : 6;
  let out = `<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + PH}" stroke="#999"/>`;
  for (const t of ticks) {
    const y = M.top + PH - (t / top) * PH;
    if (side === 'left') out += `<line x1="${M.left}" y1="${f1(y)}" x2="${M.left + PW}" y2="${f1(y)}" stroke="#eee"/>`;
    out += `<text x="${x + dx}" y="${f1(y + 4)}" text-anchor="${anchor}" fill="${color}">${escapeXml(num(t, 2))}</text>`;
  }
  const lx = side === 'left' ? 14 : W - 10;
  out += `<text x="${lx}" y="${M.top + PH / 2}" text-anchor="middle" fill="${color}" transform="rotate(-90 ${lx} ${M.top + PH / 2})">${escapeXml(unit)}</text>`;
  return out;
}

function noData(label: string): string {
  return `${svgOpen(label, 80)}<text x="${W / 2}" y="44" text-anchor="middle" fill="#666">no requests recorded</text></svg>`;
}

interface Marker {
  atS: number;
  label: string;
  color: string;
}

function markersOf(run: RunRecord): Marker[] {
  const markers: Marker[] = [];
  for (const fault of run.faults) {
    const label = `${fault.action} ${fault.target}${fault.ok ? '' : ' (failed)'}`;
    markers.push({ atS: (fault.at - run.startedAt) / 1000, label, color: COLOR.fault });
  }
  for (const transition of run.transitions) {
    if (transition.to !== 'down' && transition.to !== 'up') continue;
    const time = Date.parse(transition.time);
    if (time < run.startedAt || time > run.endedAt) continue;
    const label = `${transition.to.toUpperCase()} ${transition.instance}`;
    markers.push({
      atS: (time - run.startedAt) / 1000,
      label,
      color: transition.to === 'down' ? COLOR.down : COLOR.up,
    });
  }
  return markers.sort((a, b) => a.atS - b.atS);
}

/** Throughput, errors (per 1 s window) and p99 over time, with fault and monitor DOWN/UP markers. */
export function timelineChart(run: RunRecord, metrics: VariantMetrics): string {
  const label = `${run.variant}: throughput, errors and p99 per 1 s window`;
  const { windows } = metrics;
  if (windows.length === 0) return noData(label);
  const spanS = Math.max(1, metrics.durationMs / 1000, windows.at(-1)!.t + 1);
  const x = (s: number) => M.left + (Math.min(Math.max(s, 0), spanS) / spanS) * PW;
  const countTicks = niceTicks(Math.max(...windows.map((w) => Math.max(w.throughput, w.errors))));
  const msTicks = niceTicks(Math.max(...windows.map((w) => w.p99Ms)));
  const yCount = (v: number) => M.top + PH - (v / countTicks.at(-1)!) * PH;
  const yMs = (v: number) => M.top + PH - (v / msTicks.at(-1)!) * PH;
  const mid = (w: { t: number }) => x(w.t + 0.5);

  let out = svgOpen(label);
  out += yAxis(countTicks, 'left', 'per second', '#333') + yAxis(msTicks, 'right', 'p99 ms', COLOR.p99);
  out += `<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#999"/>`;
  for (const t of niceTicks(spanS)) {
    if (t > spanS) break;
    out += `<text x="${f1(x(t))}" y="${M.top + PH + 16}" text-anchor="middle">${escapeXml(num(t, 1))} s</text>`;
  }
  out += polyline(
    windows.map((w) => [mid(w), yCount(w.throughput)]),
    COLOR.throughput,
  );
  out += polyline(
    windows.map((w) => [mid(w), yCount(w.errors)]),
    COLOR.errors,
  );
  out += polyline(
    windows.map((w) => [mid(w), yMs(w.p99Ms)]),
    COLOR.p99,
    true,
  );
  for (const marker of markersOf(run)) {
    const mx = f1(x(marker.atS));
    const text = escapeXml(marker.label);
    out += `<g class="marker"><title>${text} at ${escapeXml(num(marker.atS, 3))} s</title>`;
    out += `<line x1="${mx}" y1="${M.top}" x2="${mx}" y2="${M.top + PH}" stroke="${marker.color}" stroke-dasharray="3 3"/>`;
    out += `<text x="${mx}" y="${M.top + 4}" fill="${marker.color}" font-size="11" transform="rotate(90 ${mx} ${M.top + 4})" dx="2" dy="-3">${text}</text></g>`;
  }
  const legend: [string, string][] = [
    ['throughput (successes/s)', COLOR.throughput],
    ['errors (per window)', COLOR.errors],
    ['p99 latency', COLOR.p99],
    ['fault', COLOR.fault],
    ['monitor DOWN', COLOR.down],
    ['monitor UP', COLOR.up],
  ];
  legend.forEach(([name, color], i) => {
    const lx = M.left + i * 140;
    out += `<rect x="${lx}" y="${H - 14}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${H - 5}">${escapeXml(name)}</text>`;
  });
  return `${out}</svg>`;
}

const PERCENTILE_SPAN = 5; // 99.999 %: where the log axis ends and max is drawn

/** x position of a percentile on an HDR-style axis: log10(1 / (1 − p)), so 90, 99, 99.9 are evenly spaced. */
function percentileX(p: number): number {
  return p >= 100 ? PERCENTILE_SPAN : Math.min(PERCENTILE_SPAN, Math.log10(1 / (1 - p / 100)));
}

/** The latency percentile curve. */
export function latencyChart(variant: string, metrics: VariantMetrics): string {
  const label = `${variant}: latency by percentile`;
  if (metrics.distribution.length === 0) return noData(label);
  const ticks = niceTicks(Math.max(...metrics.distribution.map((d) => d.ms)));
  const x = (p: number) => M.left + (percentileX(p) / PERCENTILE_SPAN) * PW;
  const y = (v: number) => M.top + PH - (v / ticks.at(-1)!) * PH;
  let out = svgOpen(label) + yAxis(ticks, 'left', 'latency ms', '#333');
  out += `<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#999"/>`;
  const axis: [number, string][] = [
    [0, '0 %'],
    [90, '90 %'],
    [99, '99 %'],
    [99.9, '99.9 %'],
    [99.99, '99.99 %'],
    [100, 'max'],
  ];
  for (const [p, text] of axis) {
    out += `<text x="${f1(x(p))}" y="${M.top + PH + 16}" text-anchor="middle">${escapeXml(text)}</text>`;
  }
  out += polyline(
    metrics.distribution.map((d) => [x(d.percentile), y(d.ms)]),
    COLOR.p99,
  );
  for (const d of metrics.distribution) {
    out += `<circle cx="${f1(x(d.percentile))}" cy="${f1(y(d.ms))}" r="2.5" fill="${COLOR.p99}"><title>p${escapeXml(num(d.percentile, 3))}: ${escapeXml(num(d.ms, 3))} ms</title></circle>`;
  }
  out += `<text x="${M.left + PW / 2}" y="${H - 5}" text-anchor="middle">percentile (log scale of 1/(1 − p))</text>`;
  return `${out}</svg>`;
}

export interface Bar {
  label: string;
  value: number | null;
  text: string;
}

/** Horizontal bars, one per variant; a missing value shows as text only. */
export function barChart(title: string, bars: Bar[], max: number): string {
  const rowH = 28;
  const height = 30 + bars.length * rowH + 10;
  const labelW = 200;
  const barW = W - labelW - 140;
  let out = `${svgOpen(title, height)}<text x="8" y="18" font-weight="bold">${escapeXml(title)}</text>`;
  bars.forEach((bar, i) => {
    const y = 30 + i * rowH;
    const length = bar.value === null || !(max > 0) ? 0 : (Math.max(0, bar.value) / max) * barW;
    out += `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${escapeXml(bar.label)}</text>`;
    out += `<rect x="${labelW}" y="${y + 3}" width="${f1(length)}" height="18" fill="${COLOR.throughput}"/>`;
    out += `<text x="${f1(labelW + length + 6)}" y="${y + 16}">${escapeXml(bar.text)}</text>`;
  });
  return `${out}</svg>`;
}
