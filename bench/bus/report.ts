// The bus bench's table and its targets, computed only from the rows of this run.

export interface Row {
  backend: string;
  mode: string;
  kind: 'throughput' | 'latency';
  perSecond?: number;
  p50Ms?: number;
  p99Ms?: number;
  note?: string;
}

/** Each archlab backend and the bare use of the same technology it is held against. */
export const CEILINGS: Readonly<Record<string, string>> = {
  'archlab sqlite': 'bare sqlite table',
  'archlab redis': 'raw redis streams',
};
export const PEER = 'bullmq';

const measured = (row: Row | undefined) =>
  row !== undefined && (row.kind === 'throughput' ? (row.perSecond ?? 0) > 0 : Number.isFinite(row.p99Ms));

/** Throughput rows compare msg/s (higher is better); latency rows compare p99 (lower is better). */
function ratio(row: Row, other: Row | undefined): string {
  if (other === undefined || other === row || !measured(row) || !measured(other)) return '-';
  if (row.kind === 'throughput') return `${(row.perSecond! / other.perSecond!).toFixed(2)}x`;
  return `p99 ${(row.p99Ms! / other.p99Ms!).toFixed(2)}x`;
}

export function printTable(rows: readonly Row[]) {
  const find = (backend: string | undefined, like: Row) =>
    rows.find((r) => r.backend === backend && r.mode === like.mode && r.kind === like.kind);
  const fmt = (n: number | undefined, digits: number) =>
    n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
  const header = ['backend', 'mode', 'msg/s', 'p50 ms', 'p99 ms', 'vs ceiling', 'vs bullmq', 'note'];
  const lines = rows.map((row) => [
    row.backend,
    row.mode,
    fmt(row.perSecond, 0),
    fmt(row.p50Ms, 2),
    fmt(row.p99Ms, 2),
    ratio(row, find(CEILINGS[row.backend], row)),
    row.backend === PEER ? '-' : ratio(row, find(PEER, row)),
    row.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const render = (cells: string[]) =>
    cells
      .map((cell, i) =>
        i === cells.length - 1 ? cell : numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  console.log(`\n${render(header)}`);
  for (const line of lines) console.log(render(line));
}

export function printTargets(rows: readonly Row[], modes: readonly string[], latencyMode: string, maxP99Ms: number) {
  const get = (backend: string, mode: string) => rows.find((r) => r.backend === backend && r.mode === mode);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED').padEnd(6);
  const compare = (label: string, a: string, b: string, at: number) => {
    for (const mode of modes) {
      const x = get(a, mode);
      const y = get(b, mode);
      const value = measured(x) && measured(y) ? x!.perSecond! / y!.perSecond! : undefined;
      const shown = value === undefined ? '(not measured, see the table)' : `${value.toFixed(3)}x`;
      console.log(
        `  ${verdict(value === undefined ? undefined : value >= at)}  ${label} ≥ ${at}x  [${mode}]: ${shown}`,
      );
    }
  };
  console.log('\ntargets (from this run only; the machine is shared, so treat single runs as indicative):');
  compare('archlab redis / raw redis streams', 'archlab redis', 'raw redis streams', 0.7);
  compare('archlab sqlite / bare sqlite table', 'archlab sqlite', 'bare sqlite table', 0.5);
  compare('archlab redis / bullmq', 'archlab redis', PEER, 2);
  compare('archlab sqlite / bullmq', 'archlab sqlite', PEER, 2);
  for (const backend of ['archlab sqlite', 'archlab redis']) {
    const row = get(backend, latencyMode);
    const ok = measured(row) ? row!.p99Ms! <= maxP99Ms : undefined;
    const shown = ok === undefined ? '(not measured, see the table)' : `${row!.p99Ms!.toFixed(2)} ms`;
    console.log(`  ${verdict(ok)}  ${backend} p99 ≤ ${maxP99Ms} ms [${latencyMode}]: ${shown}`);
  }
}
