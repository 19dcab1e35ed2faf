// The fail-over bench's tables: one markdown row per measure (median, p90, worst, n, target,
// verdict), computed only from this run's rounds.

export interface Stats {
  median: number;
  p90: number;
  /** The largest value (or the smallest, for a measure where more is better). */
  worst: number;
  n: number;
}

/** Nearest-rank percentiles over the finite values. */
export function stats(values: readonly number[], higherIsBetter = false): Stats {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (higherIsBetter) sorted.reverse();
  const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { median: rank(0.5), p90: rank(0.9), worst: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

export interface Row {
  measure: string;
  values: readonly number[];
  unit: string;
  /** The worst value must be ≤ this (≥ with higherIsBetter); none: informational. */
  target?: number;
  higherIsBetter?: boolean;
  digits?: number;
}

const fmt = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

export function verdict(row: Row): string {
  if (row.target === undefined) return '-';
  const { worst, n } = stats(row.values, row.higherIsBetter);
  if (n === 0) return 'n/a';
  return (row.higherIsBetter ? worst >= row.target : worst <= row.target) ? 'met' : '**missed**';
}

export function printTable(title: string, rows: readonly Row[]) {
  const header = ['measure', 'median', 'p90', 'worst', 'n', 'target', 'met/missed'];
  console.log(`\n${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const row of rows) {
    const s = stats(row.values, row.higherIsBetter);
    const digits = row.digits ?? 0;
    const target =
      row.target === undefined ? '-' : `${row.higherIsBetter ? '≥' : '≤'} ${fmt(row.target, digits)} ${row.unit}`;
    console.log(
      `| ${row.measure} (${row.unit}) | ${fmt(s.median, digits)} | ${fmt(s.p90, digits)} | ${fmt(s.worst, digits)} | ${s.n} | ${target} | ${verdict(row)} |`,
    );
  }
}

/** A count table: one row per count with its target (zero unless said otherwise). */
export function printCounts(title: string, rows: readonly { measure: string; count: number; target?: number }[]) {
  console.log(`\n${title}\n`);
  console.log('| measure | count | target | met/missed |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const { measure, count, target } of rows) {
    const verdictText = target === undefined ? '-' : count <= target ? 'met' : '**missed**';
    console.log(`| ${measure} | ${count} | ${target === undefined ? '-' : target} | ${verdictText} |`);
  }
}
