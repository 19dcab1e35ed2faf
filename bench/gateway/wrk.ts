// Runs wrk against one URL and reads its report: requests/s, the latency percentiles (--latency),
// non-2xx answers and socket errors.
import { run } from './processes.ts';

export interface WrkOptions {
  threads: number;
  connections: number;
  seconds: number;
  latency: boolean;
}

export interface WrkResult {
  perSecond: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** connect, read, write, timeout, as wrk counts them. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

export function wrkArgs(url: string, { threads, connections, seconds, latency }: WrkOptions): string[] {
  return [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, ...(latency ? ['--latency'] : []), url];
}

export async function wrk(binary: string, url: string, options: WrkOptions): Promise<WrkResult> {
  const result = await run(binary, wrkArgs(url, options));
  if (result.code !== 0) throw new Error(`wrk exited ${result.code}: ${`${result.stderr}${result.stdout}`.trim()}`);
  return parseWrk(result.stdout);
}

const TO_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function duration(text: string | undefined): number {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '');
  return match === null ? Number.NaN : Number(match[1]) * TO_MS[match[2]!]!;
}

export function parseWrk(text: string): WrkResult {
  const perSecond = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (perSecond === null) throw new Error(`no Requests/sec in wrk's output:\n${text}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    perSecond: Number(perSecond[1]),
    requests: Number(/(\d+) requests in /.exec(text)?.[1] ?? Number.NaN),
    p50Ms: duration(/^\s+50%\s+(\S+)/m.exec(text)?.[1]),
    p99Ms: duration(/^\s+99%\s+(\S+)/m.exec(text)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
  };
}
