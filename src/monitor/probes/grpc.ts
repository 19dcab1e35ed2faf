// One echo over gRPC: grpc.health.v1.Health/Check (the standard health checking protocol) with the
// probe's timeout as the call's deadline, classified as the detector needs it.
//   SERVING                                        → ready
//   NOT_SERVING                                    → not-ready (alive, not taking calls: draining, syncing)
//   anything else, an error, or no answer in time  → miss
// The deadline covers everything from the send on (connecting included), so a SIGSTOPped server,
// whose kernel still accepts the TCP connection, is a miss after timeoutMs, and a SIGKILLed one
// (connection refused) a miss at once. A ping that got no answer drops the channel, so the next one
// connects afresh instead of waiting out grpc-js's reconnect backoff: a restarted instance is seen
// on the very next ping, as with the HTTP probe.
import { type Client, type ClientUnaryCall, status } from '@grpc/grpc-js';
import { callUnary, createClient, loadService, type UnaryOutcome } from '../../kit/grpc.ts';
import { HEALTH_PROTO, HEALTH_SERVICE } from '../../kit/grpc-health.ts';
import type { Probe, ProbeResult } from './http.ts';

export interface GrpcProbeOptions {
  timeoutMs: number;
  /** The service whose health is asked; default "" (the whole server). */
  service?: string;
}

export function createGrpcProbe(url: string, options: GrpcProbeOptions): Probe {
  const { timeoutMs } = options;
  const Health = loadService(HEALTH_PROTO, HEALTH_SERVICE);
  const request = { service: options.service ?? '' };
  const inFlight = new Set<ClientUnaryCall>();
  let client: Client | undefined;
  let closed = false;

  async function ping(): Promise<ProbeResult> {
    if (closed) return { kind: 'miss', reason: 'probe closed' };
    if (client === undefined) client = createClient(Health, url);
    const used = client;
    let call: ClientUnaryCall | undefined;
    const outcome = await callUnary(used, 'Check', request, {
      deadline: Date.now() + timeoutMs,
      onCall: (c) => {
        call = c;
        inFlight.add(c);
      },
    });
    if (call !== undefined) inFlight.delete(call);
    if (outcome.ok) {
      const serving = outcome.response.status;
      if (serving === 'SERVING') return { kind: 'ready', reason: 'SERVING' };
      if (serving === 'NOT_SERVING') return { kind: 'not-ready', reason: 'NOT_SERVING' };
      return { kind: 'miss', reason: String(serving) };
    }
    if (outcome.failure !== 'status' && client === used) {
      client = undefined;
      used.close();
    }
    if (outcome.failure === 'timeout') return { kind: 'miss', reason: `timeout after ${timeoutMs} ms` };
    return { kind: 'miss', reason: describe(outcome) };
  }

  return {
    ping,
    async close() {
      closed = true;
      for (const call of inFlight) call.cancel();
      inFlight.clear();
      client?.close();
      client = undefined;
    },
  };
}

/**
 * ECONNREFUSED, ECONNRESET… when grpc-js names the system error; "no connection" when it could not
 * connect without saying why; else the status name and its details.
 */
function describe(outcome: UnaryOutcome & { ok: false }): string {
  const system = /\b(E[A-Z]{4,})\b/.exec(outcome.details ?? '')?.[1];
  if (system !== undefined) return system;
  if (outcome.failure === 'refused') return 'no connection';
  const name = Object.entries(status).find(([, value]) => value === outcome.code)?.[0] ?? String(outcome.code);
  return outcome.details ? `${name}: ${outcome.details}` : name;
}

/** One health check on a fresh channel, closed after: SERVING within timeoutMs (a re-admission probe). */
export async function grpcServing(url: string, timeoutMs: number): Promise<boolean> {
  const probe = createGrpcProbe(url, { timeoutMs });
  try {
    return (await probe.ping()).kind === 'ready';
  } finally {
    await probe.close();
  }
}
