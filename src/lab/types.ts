// The lab's shared shapes: what a run records (the raw facts every figure is computed from) and what
// a hypothesis asks of it. Times are milliseconds since the epoch (fractional where measured with
// performance.timeOrigin + performance.now()), durations in ms.
import type { Transition } from '../monitor/types.ts';

/** One request the load generator sent (or was scheduled to send and could not). */
export interface RequestRecord {
  /** The load stream it belongs to. */
  stream: string;
  /** Its index in the stream's schedule (0-based). */
  index: number;
  method: string;
  path: string;
  /** When the schedule said to send it. */
  scheduledAt: number;
  /** When it actually went out (≥ scheduledAt; the difference is the generator's lag). */
  sentAt: number;
  /** When the answer (or the failure) arrived. */
  endedAt: number;
  /** endedAt − scheduledAt: latency corrected for coordinated omission. */
  latencyMs: number;
  /** HTTP status, or 0 when there was none (connection error, client timeout). */
  status: number;
  /** For status 0: why ("timeout", "ECONNREFUSED", …). */
  error: string | null;
  /** The instance that answered (x-archlab-instance), when the answer says. */
  instance: string | null;
  /** A store-and-forward ticket, when the answer was a 202 with one. */
  ticket: string | null;
  /** The `id` field of a command's 201/202 JSON answer (what was created), for `verify` checks. */
  answerId?: string | null;
  /** The request id the gateway assigned (x-request-id). */
  requestId: string | null;
  /** The W3C trace id the generator sent (traceparent), to join with the system's spans. */
  traceId?: string | null;
  /** Whether this request is a command (changes state) for the command accounting. */
  command: boolean;
  /** What the system's spans say about it (null: no span of its trace was found). */
  trace?: TraceFacts | null;
}

/** Moments of one request's trace, epoch ms, each null when that part was not traced. */
export interface TraceFacts {
  /** The gateway received it. */
  gatewayAt: number | null;
  /** Upstream tries the gateway made. */
  tries: number;
  /** The service's handler that answered started / ended. */
  serviceAt: number | null;
  serviceEndAt: number | null;
  /** The first store commit of the trace ended. */
  committedAt: number | null;
  /** The first event of the trace was on the bus. */
  onBusAt: number | null;
  /** The first read model applied an event of the trace. */
  projectedAt: number | null;
  /** Handler runs that produced events (more than 1: the command ran twice). */
  executions: number;
  /** Events applied again by a read model that had applied them already. */
  repeatedProjections: number;
}

/** One fault the lab carried out. */
export interface FaultRecord {
  /** Offset from the start of the run that the schedule asked for. */
  plannedMs: number;
  /** When it was carried out (the moment before the call that does it). */
  at: number;
  action: string;
  target: string;
  ok: boolean;
  error: string | null;
}

export interface GeneratorStats {
  /** How far actual send times lagged the schedule. */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** True when the generator, not the system, limited the rate (lag p99 over the threshold). */
  starved: boolean;
  /** The generator's own event-loop delay p99 while running, when measured. */
  loopDelayP99Ms: number | null;
}

/** One variant's run: the raw facts. */
export interface RunRecord {
  experiment: string;
  variant: string;
  startedAt: number;
  endedAt: number;
  requests: RequestRecord[];
  faults: FaultRecord[];
  /** Every monitor transition seen during the run. */
  transitions: Transition[];
  generator: GeneratorStats;
  /** Command accounting, when the experiment asked for it (filled by the runner). */
  commands: CommandAccounting | null;
  /** Gateway counters read at the end of the run (retries, budget refusals, …), name → value. */
  counters: Record<string, number>;
}

export interface CommandAccounting {
  /** Answered 2xx (201/202) to the client. */
  accepted: number;
  /** Known to be in the write side: answered 200/201 (committed before the answer), or a ticket done. */
  persisted: number;
  /** Answered 202 without a ticket (queued by the service itself): not checked by this experiment. */
  unverified: number;
  /** Found in the read side afterwards (null: not measured for this experiment). */
  projected: number | null;
  deadLettered: number;
  /** accepted − persisted − unverified − deadLettered: tickets still pending or unknown. Must be 0. */
  lost: number;
  /** Null: not measured for this experiment. */
  duplicates: number | null;
  /** Command accepted → visible on the query side, when measured. */
  lagP50Ms: number | null;
  lagP99Ms: number | null;
}

/** Thresholds that make the verdict; every field optional. */
export interface Hypothesis {
  /** Minimum fraction of successful requests (0..1), overall and in the worst 1 s window. */
  availability?: { overall?: number; worstWindow?: number };
  /** Maximum latency percentiles in ms (from the scheduled send time). */
  latencyMs?: { p50?: number; p90?: number; p99?: number; p999?: number; max?: number };
  /** Maximum lost commands (normally 0). */
  lostCommands?: number;
  /** Maximum fault → monitor DOWN time, ms (every kill/hang fault). */
  detectionMs?: number;
  /** Maximum fault → first success served by a replacement, ms. */
  recoveryMs?: number;
  /** Maximum command → query lag p99, ms. */
  commandToQueryLagMs?: number;
}
