// The gateway bench's table and goals, computed only from this run's measurements. Each figure is
// the median over the rounds; the per-round req/s stay in the table so drift shows.

export interface Measurement {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The proxy process's CPU over the measured window, % of one core (undefined for direct). */
  proxyCpuPercent?: number;
  proxyMicrosPerRequest?: number;
  /** The kernel's part of proxyMicrosPerRequest (socket reads and writes, loopback TCP). */
  proxySystemMicrosPerRequest?: number;
  backendMicrosPerRequest: number;
  /** CPU the rest of the machine used during the window (neither wrk, the backend, the proxy nor the bench), % of one core. */
  otherCpuPercent: number;
  /** wrk's non-2xx answers and socket errors, printed when not zero. */
  problems: string[];
}

export interface Row {
  target: string;
  rounds: Measurement[];
  note?: string;
}

export const NGINX = 'nginx';
export const HTTP_PROXY = 'node-http-proxy';
/** node:http + an undici Pool and nothing else: the floor of archlab's own stack. */
export const BARE_UNDICI = 'bare undici proxy';

/** Each goal: archlab's row over a peer's req/s must reach `atLeast`. */
export const GOALS = [
  { peer: NGINX, atLeast: 0.8 },
  { peer: HTTP_PROXY, atLeast: 1.5 },
] as const;

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const of = (row: Row | undefined, pick: (m: Measurement) => number | undefined) =>
  row === undefined ? Number.NaN : median(row.rounds.map((m) => pick(m) ?? Number.NaN));

export const perSecond = (row: Row | undefined) => of(row, (m) => m.perSecond);

const fmt = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function ratio(row: Row, peer: Row | undefined): string {
  if (peer === undefined || peer === row) return '-';
  const value = perSecond(row) / perSecond(peer);
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : '-';
}

function microsPerRequest(row: Row): string {
  const total = of(row, (m) => m.proxyMicrosPerRequest);
  const system = of(row, (m) => m.proxySystemMicrosPerRequest);
  return Number.isFinite(total) ? `${total.toFixed(0)} (${(total - system).toFixed(0)}+${system.toFixed(0)})` : '-';
}

export function printTable(rows: readonly Row[]) {
  const find = (target: string) => rows.find((r) => r.target === target);
  const header = [
    'target',
    'req/s',
    'p50 ms',
    'p99 ms',
    'vs nginx',
    'vs node-http-proxy',
    'proxy CPU',
    'proxy µs/req (user+sys)',
    'backend µs/req',
    'other CPU',
    'req/s by round',
    'note',
  ];
  const lines = rows.map((row) => {
    const cpu = of(row, (m) => m.proxyCpuPercent);
    const problems = row.rounds.flatMap((m) => m.problems);
    return [
      row.target,
      fmt(perSecond(row), 0),
      fmt(
        of(row, (m) => m.p50Ms),
        2,
      ),
      fmt(
        of(row, (m) => m.p99Ms),
        2,
      ),
      ratio(row, find(NGINX)),
      ratio(row, find(HTTP_PROXY)),
      Number.isFinite(cpu) ? `${cpu.toFixed(0)}%` : '-',
      microsPerRequest(row),
      fmt(
        of(row, (m) => m.backendMicrosPerRequest),
        0,
      ),
      row.rounds.length === 0 ? '-' : `${Math.max(...row.rounds.map((m) => m.otherCpuPercent)).toFixed(0)}%`,
      row.rounds.map((m) => m.perSecond.toFixed(0)).join(' / '),
      [row.note, ...problems].filter(Boolean).join('; '),
    ];
  });
  const render = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  console.log(`\n${render(header)}`);
  console.log(render(header.map((_, i) => (i === 0 || i === header.length - 1 ? '---' : '---:'))));
  for (const line of lines) console.log(render(line));
}

export function printGoals(rows: readonly Row[], archlabTargets: readonly string[]) {
  console.log(
    '\ngoals (this run only; wrk, the backend and the proxy share the machine, so treat one run as indicative):',
  );
  for (const target of archlabTargets) {
    const row = rows.find((r) => r.target === target);
    for (const { peer, atLeast } of GOALS) {
      const value = perSecond(row) / perSecond(rows.find((r) => r.target === peer));
      const verdict = Number.isFinite(value) ? (value >= atLeast ? 'met' : 'MISSED') : 'n/a';
      const shown = Number.isFinite(value) ? `${value.toFixed(2)}x` : '(not measured, see the table)';
      console.log(`  ${verdict.padEnd(6)}  ${target} ≥ ${atLeast}x ${peer} req/s: ${shown}`);
    }
  }
}
