// One calculator process: a gRPC server (insecure, HTTP/2) that implements one rpc of
// calculator.Calculator — grpc-js answers the other two UNIMPLEMENTED — plus the standard health
// service (grpc.health.v1.Health: "" and "calculator.Calculator" are SERVING while it runs).
//
// Its URL is reported as http://host:port like every other instance's, so placement.json, the
// monitor and the gateway need no special case; the topology's `kind: grpc` says how to talk to it.
// No /metrics: gRPC has no room for it on this port and a second port per process is not worth it.
//
// Fault switch (from ARCHLAB_FAULTS at start; a gRPC server has no /_admin/faults):
//   calculator.hang — calls to the operation are accepted and never answered; only the caller's
//   deadline ends them. The health service still answers SERVING (a gray failure the monitor cannot
//   see; a whole-process hang is `archlab fault hang`, i.e. SIGSTOP).
import {
  type handleUnaryCall,
  Metadata,
  Server,
  ServerCredentials,
  type ServerErrorResponse,
  status,
} from '@grpc/grpc-js';
import { KitErrors } from '../../kit/errors.ts';
import { createFaults, type Faults } from '../../kit/faults.ts';
import { bindAddress, ERROR_CODE_KEY, loadService } from '../../kit/grpc.ts';
import { createHealthService } from '../../kit/grpc-health.ts';
import { nowMs, recordSpan, tracing } from '../../kit/spans.ts';
import { continueTrace, type TraceContext } from '../../kit/trace.ts';
import type { ProgramContext, RunningProgram } from '../program.ts';
import { CalculatorError, checkResult, type Operands, type Operation, readOperands } from './operations.ts';

export const CALCULATOR_PROTO = 'calculator.proto';
export const CALCULATOR_SERVICE = 'calculator.Calculator';

/** How long close() lets calls in flight finish before it cuts them off (under the kit's 10 s grace). */
const DRAIN_MS = 3000;

export interface OperationResponse {
  result: number;
}

export interface CallContext {
  trace: TraceContext;
  /** The caller's deadline (epoch ms), Infinity when it set none. */
  deadline: number;
}

export type OperationHandler = (operands: Operands, call: CallContext) => number | Promise<number>;

export async function startCalculatorServer(
  ctx: ProgramContext,
  operation: Operation,
  handler: OperationHandler,
  faults: Faults = createFaults(process.env.ARCHLAB_FAULTS),
): Promise<RunningProgram> {
  const Calculator = loadService(CALCULATOR_PROTO, CALCULATOR_SERVICE);
  const health = createHealthService({ '': 'SERVING', [CALCULATOR_SERVICE]: 'SERVING' });
  const server = new Server();
  server.addService(health.definition, health.implementation);

  let hangLogged = false;
  const serve: handleUnaryCall<unknown, OperationResponse> = (call, callback) => {
    if (faults.isOn('calculator.hang')) {
      if (!hangLogged) ctx.log.warn({ operation }, 'calculator.hang is on: calls are left unanswered');
      hangLogged = true;
      return;
    }
    const trace = continueTrace(stringHeaders(call.metadata));
    const startMs = trace.sampled && tracing() ? nowMs() : 0;
    const deadline = call.getDeadline();
    const context: CallContext = { trace, deadline: deadline instanceof Date ? deadline.getTime() : deadline };
    (async () => {
      const operands = readOperands(call.request);
      return checkResult(operation, operands, await handler(operands, context));
    })().then(
      (result) => {
        callback(null, { result });
        if (startMs !== 0) recordCallSpan(trace, startMs, operation, ctx.instance, undefined);
      },
      (error: unknown) => {
        const answer = failure(error, trace);
        callback(answer);
        if (startMs !== 0) recordCallSpan(trace, startMs, operation, ctx.instance, answer.details);
      },
    );
  };
  server.addService(Calculator.service, { [operation]: serve });

  function failure(error: unknown, trace: TraceContext): ServerErrorResponse {
    const known = error instanceof CalculatorError;
    if (!known) ctx.log.error({ err: error, requestId: trace.requestId, operation }, 'operation failed');
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_KEY, known ? error.code : KitErrors.INTERNAL);
    return Object.assign(new Error(known ? error.message : 'internal error'), {
      code: known ? error.status : status.INTERNAL,
      details: known ? error.message : `internal error; the instance log has it under request id ${trace.requestId}`,
      metadata,
    });
  }

  let closed: Promise<void> | undefined;
  ctx.shutdown.add('grpc server', () => {
    closed ??= drain();
    return closed;
  });

  // Health goes NOT_SERVING first so a watcher learns it; Watch streams are ended because tryShutdown
  // waits for every call, and a hung call (calculator.hang) is cut off after DRAIN_MS.
  async function drain() {
    health.set('', 'NOT_SERVING');
    health.set(CALCULATOR_SERVICE, 'NOT_SERVING');
    health.endWatches();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ctx.log.warn({ drainMs: DRAIN_MS }, 'calls still in flight after the drain period: cutting them off');
        server.forceShutdown();
        resolve();
      }, DRAIN_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress(ctx.host, ctx.port), ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    );
  });
  const host = ctx.host.includes(':') ? `[${ctx.host}]` : ctx.host;
  ctx.log.info({ operation, faults: faults.all() }, 'calculator serving');
  return { url: `http://${host}:${port}` };
}

/** The SERVER span of one call (its id is the trace context's: calls it makes are its children). */
function recordCallSpan(trace: TraceContext, startMs: number, operation: string, instance: string, error?: string) {
  recordSpan({
    traceId: trace.traceId,
    spanId: trace.spanId,
    parentSpanId: trace.parentSpanId,
    name: `grpc ${CALCULATOR_SERVICE}/${operation}`,
    kind: 'SERVER',
    startMs,
    endMs: nowMs(),
    attributes: { 'rpc.system': 'grpc', 'rpc.method': operation, 'archlab.instance': instance },
    error,
  });
}

/** The string-valued request metadata (binary `-bin` entries dropped), as trace headers. */
function stringHeaders(metadata: Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) if (typeof value === 'string') headers[key] = value;
  return headers;
}
