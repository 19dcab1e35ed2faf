// The validated, defaulted topology every component reads (supervisor, gateway, monitor, lab).
// The YAML form is documented in docs/topology.md; loader.ts turns a file into this shape.

export type ServiceKind = 'http' | 'grpc';
export type ServiceRole = 'command' | 'query' | 'worker';
export type BalancePolicy = 'primary-backup' | 'round-robin' | 'least-outstanding';

export type Redundancy =
  | { type: 'none' }
  | { type: 'active'; policy: BalancePolicy }
  | { type: 'passive'; spares: number; mode: 'cold' | 'warm' };

export interface ServiceSpec {
  /** `<domain>-<role>`, e.g. users-commands. Instances are `<name>-<n>` from 1. */
  name: string;
  /** Which program the instances run (a key of src/services/programs.ts); defaults to the name. */
  program: string;
  kind: ServiceKind;
  role: ServiceRole;
  instances: number;
  redundancy: Redundancy;
  /** Ping-echo settings for this service's instances: the topology's `monitor`, overridden per service. */
  monitor: MonitorSpec;
  /** Extra environment for the instances. */
  env: Record<string, string>;
}

export interface RouteSpec {
  /** Path prefix matched on segment boundaries: /api-queries/users matches /api-queries/users/7. */
  prefix: string;
  service: string;
  /** Replaces the matched prefix before forwarding; default: the path is forwarded unchanged. */
  rewrite: string | undefined;
  /** Safe to retry on another instance (GET/HEAD always are). */
  idempotent: boolean;
  storeAndForward: boolean;
  /** Overall deadline for the request at the gateway. */
  timeoutMs: number;
  /**
   * Longest wait for one instance when another could still take a request that is safe to retry
   * (a hung instance accepts connections and never answers); other requests get the whole deadline.
   */
  tryTimeoutMs: number;
  /**
   * Transcoded to gRPC: GET <prefix>/<num1>/<num2> becomes calculator.Calculator/<method>; the answer
   * is `{ operation, result }`. `label` names the operation in /pending_results (seed 003).
   */
  grpc: { method: string; label: string } | undefined;
  /** The `message` of a 202 answer when the request was stored (seed 003's words). */
  storedMessage: string | undefined;
  /** Methods this route takes (default: all); the same prefix may go to two services by method. */
  methods: readonly string[] | undefined;
}

export interface GatewaySpec {
  host: string;
  port: number;
  /** Largest request body the gateway forwards. */
  bodyLimitBytes: number;
  /** The admin port (always on 127.0.0.1); 0 lets the supervisor pick a free one. */
  adminPort: number;
  /** Consecutive 5xx answers that eject an instance (passive outlier detection). */
  ejectAfter5xx: number;
  /** Retries per service may add at most `percent` % of its requests (plus `minRetries`) per window. */
  retryBudget: { percent: number; minRetries: number; windowMs: number };
}

export interface MonitorSpec {
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

/** Spans (OpenTelemetry-shaped JSON lines under <data>/spans/, OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set). */
export interface TracingSpec {
  /** Record spans at all. */
  spans: boolean;
  /** Share (0..1) of the traces that start in archlab (no sampled traceparent from the client) that are recorded. */
  rootSampleRatio: number;
}

export interface Topology {
  /** The file it was read from, for messages; undefined for an in-memory topology. */
  file: string | undefined;
  /** Store URL: sqlite:<dir> or postgres://... */
  store: string;
  /** Bus URL: sqlite:<file> or redis://... */
  bus: string;
  gateway: GatewaySpec;
  monitor: MonitorSpec;
  tracing: TracingSpec;
  /** In declaration order. */
  services: ServiceSpec[];
  /** In declaration order; the gateway matches the longest prefix. */
  routes: RouteSpec[];
}
