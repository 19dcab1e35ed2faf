// An open-model load: requests arrive on a fixed timer schedule (every 1000 / rate ms) whatever the
// answers do, as independent clients would; each has its own timeout. A closed loop would slow down
// while the system stalls and so hide exactly the failures a fail-over causes. Keep-alive connections
// from an undici Pool; the pool is large enough that requests never queue in this process (a stall
// of 300 ms at 500 req/s holds 150 requests in flight).
import { Pool } from 'undici';

export interface LoadOptions {
  ratePerSecond: number;
  timeoutMs: number;
  /** A 200's body is what it should be (a complete read); otherwise it counts as a wrong answer. */
  check(body: string): boolean;
}

export interface Failed {
  /** Date.now() when the request was sent. */
  sentAt: number;
  what: string;
}

export interface LoadReport {
  sent: number;
  ok: number;
  /** Answers other than 200, by status. */
  statuses: Record<string, number>;
  /** 200s whose body failed the check. */
  wrong: number;
  timeouts: number;
  /** Client-side errors other than timeouts, by code. */
  errors: Record<string, number>;
  /** Which instance answered the 200s (x-archlab-instance). */
  servedBy: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How late the timer sent the latest request compared with its schedule (this process's own lag). */
  maxSendLagMs: number;
  elapsedMs: number;
  failures: Failed[];
}

export interface OpenLoad {
  /** Requests that have ended other than in a correct 200 so far. */
  failed(): number;
  /** Stops sending, waits for every request in flight to end, closes the connections. */
  stop(): Promise<LoadReport>;
}

const KEPT_FAILURES = 50;

export function startOpenLoad(origin: string, path: string, options: LoadOptions): OpenLoad {
  const pool = new Pool(origin, { connections: 512, keepAliveTimeout: 30_000 });
  const intervalMs = 1000 / options.ratePerSecond;
  const latencies: number[] = [];
  const report: LoadReport = {
    sent: 0,
    ok: 0,
    statuses: {},
    wrong: 0,
    timeouts: 0,
    errors: {},
    servedBy: {},
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    maxMs: Number.NaN,
    maxSendLagMs: 0,
    elapsedMs: 0,
    failures: [],
  };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const fail = (sentAt: number, what: string) => {
    if (report.failures.length < KEPT_FAILURES) report.failures.push({ sentAt, what });
  };

  async function one() {
    const sentAt = Date.now();
    const t0 = performance.now();
    try {
      const res = await pool.request({ method: 'GET', path, signal: AbortSignal.timeout(options.timeoutMs) });
      const body = await res.body.text();
      latencies.push(performance.now() - t0);
      if (res.statusCode !== 200) {
        report.statuses[res.statusCode] = (report.statuses[res.statusCode] ?? 0) + 1;
        fail(sentAt, `${res.statusCode} ${body.slice(0, 200)}`);
        return;
      }
      const instance = String(res.headers['x-archlab-instance'] ?? 'none');
      report.servedBy[instance] = (report.servedBy[instance] ?? 0) + 1;
      let good = false;
      try {
        good = options.check(body);
      } catch {
        // not the JSON it should be: a wrong answer
      }
      if (good) report.ok++;
      else {
        report.wrong++;
        fail(sentAt, `200 from ${instance} with a wrong body: ${body.slice(0, 200)}`);
      }
    } catch (error) {
      const { name, code } = error as { name?: string; code?: string };
      if (name === 'TimeoutError') {
        report.timeouts++;
        fail(sentAt, `no answer within ${options.timeoutMs} ms`);
      } else {
        const key = code ?? name ?? 'error';
        report.errors[key] = (report.errors[key] ?? 0) + 1;
        fail(sentAt, `client error ${key}: ${(error as Error).message}`);
      }
    }
  }

  function tick() {
    timer = undefined;
    if (stopped) return;
    const now = performance.now();
    const due = Math.floor((now - started) / intervalMs) + 1;
    while (report.sent < due) {
      report.maxSendLagMs = Math.max(report.maxSendLagMs, now - (started + report.sent * intervalMs));
      report.sent++;
      const request = one();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    timer = setTimeout(tick, Math.max(0, started + report.sent * intervalMs - performance.now()));
  }
  tick();

  return {
    failed: () => failedCount(report),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      report.elapsedMs = performance.now() - started;
      await Promise.allSettled([...inFlight]);
      await pool.close();
      latencies.sort((a, b) => a - b);
      const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
      report.p50Ms = at(0.5) ?? Number.NaN;
      report.p99Ms = at(0.99) ?? Number.NaN;
      report.maxMs = latencies.at(-1) ?? Number.NaN;
      return report;
    },
  };
}

/** Requests that did not end in a correct 200. */
export function failedCount(report: LoadReport): number {
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  return sum(report.statuses) + report.wrong + report.timeouts + sum(report.errors);
}
