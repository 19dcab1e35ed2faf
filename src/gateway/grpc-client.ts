// The gateway's gRPC upstreams: one channel per instance origin (`http://127.0.0.1:<port>`, the URL
// every instance has in placement.json), kept and reused, calling the rpcs of one service loaded from
// proto/ (calculator.Calculator by default) by method name. Every call has a deadline and never
// rejects; its failure is classified like the HTTP proxy's (refused / reset / timeout / status), so
// the gateway's failover, retry and store-and-forward treat both kinds of upstream alike:
//   UNAVAILABLE, no connection made (refused, unreachable, in reconnect backoff) → refused
//   UNAVAILABLE after the call was out (connection dropped), RST_STREAM, CANCELLED → reset
//   DEADLINE_EXCEEDED (ours, or the server's own downstream deadline)             → timeout
//   any other status the server answered (INVALID_ARGUMENT = 3: the caller's fault; UNIMPLEMENTED;
//   UNAVAILABLE with an archlab error code: the instance is up, its dependency is not) → status, with
//   `code` the gRPC status code, `details` its message, `errorCode` the archlab code (docs/errors.md).
import type { Client, ClientUnaryCall } from '@grpc/grpc-js';
import { callUnary, createClient, type GrpcFailureKind, loadService, type UnaryOutcome } from '../kit/grpc.ts';

export { httpStatusOf } from '../kit/grpc.ts';
export type { GrpcFailureKind };

export type GrpcOutcome = UnaryOutcome;

export interface GrpcCallOptions {
  /** Request metadata, e.g. the hop's traceparent and x-request-id (kit/trace.ts traceHeaders). */
  headers?: Record<string, string>;
}

export interface GrpcUpstreams {
  /**
   * Calls `method` (an rpc of the service: 'Add', 'Subtract', 'Multiply') on the instance at
   * `origin` with `request` as its message, ending it after `deadlineMs` at the latest. A method the
   * service does not have is a `status` failure (UNIMPLEMENTED) without a call.
   */
  call(
    origin: string,
    method: string,
    request: Record<string, unknown>,
    deadlineMs: number,
    options?: GrpcCallOptions,
  ): Promise<GrpcOutcome>;
  /** Cancels the calls in flight (they end as `reset`) and closes every channel. */
  close(): Promise<void>;
}

export interface GrpcUpstreamsOptions {
  /** A file of proto/; default calculator.proto. */
  proto?: string;
  /** Fully qualified service name; default calculator.Calculator. */
  service?: string;
}

export function createGrpcUpstreams(options: GrpcUpstreamsOptions = {}): GrpcUpstreams {
  const Service = loadService(options.proto ?? 'calculator.proto', options.service ?? 'calculator.Calculator');
  const clients = new Map<string, Client>();
  const inFlight = new Set<ClientUnaryCall>();
  let closed = false;

  function clientFor(origin: string): Client {
    let client = clients.get(origin);
    if (client === undefined) {
      client = createClient(Service, origin);
      clients.set(origin, client);
    }
    return client;
  }

  return {
    async call(origin, method, request, deadlineMs, callOptions = {}) {
      if (closed) return { ok: false, failure: 'refused', details: 'the gRPC upstreams are closed' };
      let call: ClientUnaryCall | undefined;
      const outcome = await callUnary(clientFor(origin), method, request, {
        deadline: Date.now() + Math.max(0, deadlineMs),
        headers: callOptions.headers,
        onCall: (c) => {
          call = c;
          inFlight.add(c);
        },
      });
      if (call !== undefined) inFlight.delete(call);
      return outcome;
    },
    async close() {
      closed = true;
      for (const call of inFlight) call.cancel();
      inFlight.clear();
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
