// A small closed-loop load driver for benchmarks: `concurrency` workers send back-to-back requests
// over keep-alive connections for `durationMs`; latencies are kept whole for exact percentiles.
import { Pool } from 'undici';

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface Request {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

export async function drive(
  name: string,
  origin: string,
  next: (i: number) => Request,
  { concurrency = 16, durationMs = 5_000, ok = (status: number) => status < 400 } = {},
): Promise<LoadResult> {
  const pool = new Pool(origin, { connections: concurrency });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let counter = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  async function worker() {
    while (performance.now() < deadline) {
      const request = next(counter++);
      const t0 = performance.now();
      try {
        const res = await pool.request({
          ...request,
          headers: { 'content-type': 'application/json', ...request.headers },
        });
        await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (!ok(res.statusCode)) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - started;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    name,
    requests: latencies.length,
    errors,
    statuses,
    perSecond: (latencies.length / elapsedMs) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

export function printTable(rows: LoadResult[], ratios: [string, string, string][]) {
  const fmt = (n: number, d = 1) => n.toFixed(d).padStart(9);
  console.log(
    `\n${'scenario'.padEnd(34)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(9)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(34)}${fmt(r.perSecond)}${fmt(r.p50Ms, 2)}${fmt(r.p99Ms, 2)}${String(r.errors).padStart(9)}`,
    );
  }
  console.log('');
  for (const [label, a, b] of ratios) {
    const x = rows.find((r) => r.name === a)!;
    const y = rows.find((r) => r.name === b)!;
    console.log(`${label}: ${(x.perSecond / y.perSecond).toFixed(2)}× req/s (${a} / ${b})`);
  }
}
