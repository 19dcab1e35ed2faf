// One echo over HTTP: GET <url>/health, classified as the detector needs it.
//   200                        → ready
//   503 with { "ready": false } → not-ready (alive, catching up: the kit's /health while syncing)
//   anything else, an error, or no complete answer within timeoutMs → miss
// The deadline covers everything from the send on (waiting for a connection, connecting, headers,
// body), so a SIGSTOPped process, whose kernel still completes the TCP handshake but which never
// answers, is a miss after exactly timeoutMs, and a SIGKILLed one (connection refused) a miss at once.
import { Pool } from 'undici';
import type { EchoKind } from '../detector.ts';

export interface ProbeResult {
  kind: EchoKind;
  reason: string;
}

export interface Probe {
  ping(): Promise<ProbeResult>;
  /** Aborts pings in flight and closes the connections. */
  close(): Promise<void>;
}

export interface HttpProbeOptions {
  timeoutMs: number;
  /**
   * Connections kept to the instance. Pings overlap only when one hangs (or timeoutMs ≥ intervalMs),
   * and each aborted ping closes its connection, so two are plenty.
   */
  connections?: number;
}

export function createHttpProbe(url: string, options: HttpProbeOptions): Probe {
  const { timeoutMs } = options;
  const base = new URL(url);
  const path = `${base.pathname.replace(/\/+$/, '')}/health`;
  const pool = new Pool(base.origin, {
    connections: options.connections ?? 2,
    pipelining: 1,
    // Our own deadline governs; these only keep undici from giving up earlier with another message.
    connect: { timeout: timeoutMs + 1000 },
    headersTimeout: timeoutMs + 1000,
    bodyTimeout: timeoutMs + 1000,
  });
  const timeout: ProbeResult = { kind: 'miss', reason: `timeout after ${timeoutMs} ms` };

  async function ping(): Promise<ProbeResult> {
    const controller = new AbortController();
    const { signal } = controller;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const { statusCode, body } = await pool.request({ method: 'GET', path, signal });
      if (statusCode === 503) {
        const text = await body.text();
        return notReady(text) ? { kind: 'not-ready', reason: '503 not ready' } : { kind: 'miss', reason: '503' };
      }
      await body.dump({ limit: 64 * 1024, signal });
      return statusCode === 200 ? { kind: 'ready', reason: '200 ready' } : { kind: 'miss', reason: String(statusCode) };
    } catch (error) {
      if (signal.aborted) return timeout;
      return { kind: 'miss', reason: describe(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    ping,
    close: () => pool.destroy(),
  };
}

function notReady(text: string): boolean {
  try {
    return (JSON.parse(text) as { ready?: unknown } | null)?.ready === false;
  } catch {
    return false;
  }
}

/** ECONNREFUSED, ECONNRESET… for system errors; undici's message ("other side closed") otherwise. */
function describe(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && !code.startsWith('UND_ERR')) return code;
  return typeof message === 'string' && message !== '' ? message : String(error);
}
