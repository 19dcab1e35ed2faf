// Turns archlab.yaml into the frozen Topology every component reads. Contract: either a complete,
// defaulted Topology comes back, or one AppError(CONFIG_INVALID) that names every problem in the
// file at once, each with the line and column it came from, so a user fixes them in one pass.
import { readFile } from 'node:fs/promises';
import { AppError, KitErrors } from '../kit/errors.ts';
import { type ConfigProblem, type Located, parseValidated, suggest } from '../kit/yaml-config.ts';
import { type RawService, type RawTopology, validateRawTopology } from './schema.ts';
import type { MonitorSpec, Redundancy, RouteSpec, ServiceRole, ServiceSpec, Topology } from './types.ts';

export type TopologyProblem = ConfigProblem;

export interface TopologyOptions {
  /** Where the text came from; used in messages and kept as Topology.file. */
  file?: string;
  /** Directory the default sqlite store and bus live in. */
  dataDir: string;
  /** ARCHLAB_STORE_URL and ARCHLAB_BUS_URL here win over the file; default process.env. */
  env?: Record<string, string | undefined>;
}

export const TOPOLOGY_DEFAULTS = {
  gateway: {
    host: '127.0.0.1',
    port: 8080,
    bodyLimitBytes: 1_048_576,
    adminPort: 0,
    ejectAfter5xx: 3,
    retryBudget: { percent: 20, minRetries: 10, windowMs: 10_000 },
  },
  monitor: { intervalMs: 1000, timeoutMs: 500, failureThreshold: 3, successThreshold: 2 },
  tracing: { spans: true, rootSampleRatio: 1 },
  service: { kind: 'http', instances: 1 },
  passive: { spares: 1, mode: 'cold' },
  route: { idempotent: false, storeAndForward: false, timeoutMs: 10_000, tryTimeoutMs: 2_000 },
} as const;

/** Label used in messages when the text has no file. */
const INLINE = '<inline>';

export async function loadTopology(file: string, options: Omit<TopologyOptions, 'file'>): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new AppError(400, KitErrors.CONFIG_INVALID, `${file}: cannot read the topology file (${reason})`, {
      details: { file },
      cause: error,
    });
  }
  return parseTopology(text, { ...options, file });
}

export function parseTopology(text: string, options: TopologyOptions): Topology {
  const raw = parseValidated(text, {
    file: options.file ?? INLINE,
    validate: validateRawTopology,
    crossCheck,
    rootHint: 'a map with at least a services: entry',
  });
  return deepFreeze(build(raw, options));
}

/** Role from the name's suffix, as DESIGN.md's naming does: -commands, -queries, anything else. */
export function inferRole(serviceName: string): ServiceRole {
  if (serviceName.endsWith('-commands')) return 'command';
  if (serviceName.endsWith('-queries')) return 'query';
  return 'worker';
}

function build(raw: RawTopology, options: TopologyOptions): Topology {
  const env = options.env ?? process.env;
  const dataDir = options.dataDir.replace(/\/+$/, '') || '/';
  const monitor: MonitorSpec = { ...TOPOLOGY_DEFAULTS.monitor, ...raw.monitor };
  const services = Object.entries(raw.services).map(([name, service]) => buildService(name, service, monitor));
  const routes = (raw.routes ?? []).map(
    (route): RouteSpec => ({
      prefix: route.prefix,
      service: route.service,
      rewrite: route.rewrite,
      idempotent: route.idempotent ?? TOPOLOGY_DEFAULTS.route.idempotent,
      storeAndForward: route.storeAndForward ?? TOPOLOGY_DEFAULTS.route.storeAndForward,
      timeoutMs: route.timeoutMs ?? TOPOLOGY_DEFAULTS.route.timeoutMs,
      tryTimeoutMs: route.tryTimeoutMs ?? TOPOLOGY_DEFAULTS.route.tryTimeoutMs,
      grpc:
        route.grpc === undefined
          ? undefined
          : { method: route.grpc.method, label: route.grpc.label ?? route.grpc.method },
      storedMessage: route.storedMessage,
      methods: route.methods,
    }),
  );
  return {
    file: options.file,
    // An empty variable counts as unset: `ARCHLAB_BUS_URL= archlab up` should not mean "no bus".
    store: env.ARCHLAB_STORE_URL || raw.store || `sqlite:${dataDir}`,
    bus: env.ARCHLAB_BUS_URL || raw.bus || `sqlite:${dataDir === '/' ? '' : dataDir}/bus.db`,
    gateway: {
      ...TOPOLOGY_DEFAULTS.gateway,
      ...raw.gateway,
      retryBudget: { ...TOPOLOGY_DEFAULTS.gateway.retryBudget, ...raw.gateway?.retryBudget },
    },
    monitor,
    tracing: { ...TOPOLOGY_DEFAULTS.tracing, ...raw.tracing },
    services,
    routes,
  };
}

function buildService(name: string, raw: RawService, monitor: MonitorSpec): ServiceSpec {
  return {
    name,
    program: raw.program ?? name,
    kind: raw.kind ?? TOPOLOGY_DEFAULTS.service.kind,
    role: raw.role ?? inferRole(name),
    instances: raw.instances ?? TOPOLOGY_DEFAULTS.service.instances,
    redundancy: toRedundancy(raw.redundancy),
    monitor: { ...monitor, ...raw.monitor },
    env: { ...raw.env },
  };
}

function toRedundancy(raw: RawService['redundancy']): Redundancy {
  if (raw === undefined || raw === 'none') return { type: 'none' };
  if ('active' in raw) return { type: 'active', policy: raw.active.policy };
  return {
    type: 'passive',
    spares: raw.passive.spares ?? TOPOLOGY_DEFAULTS.passive.spares,
    mode: raw.passive.mode ?? TOPOLOGY_DEFAULTS.passive.mode,
  };
}

/**
 * Rules a JSON Schema cannot state, or states only with unreadable messages. Runs on data that may
 * have failed the schema, so it reads defensively and leaves malformed parts to the schema's report.
 */
function crossCheck(raw: unknown): Located[] {
  const problems: Located[] = [];
  const services = asRecord(asRecord(raw)?.services) ?? {};
  const serviceNames = Object.keys(services);

  // Instance names are how the CLI, logs and lab address processes, so two things must never share one
  // (e.g. service users-queries-spare's first instance vs users-queries' first spare).
  const owner = new Map<string, string>();
  for (const [name, value] of Object.entries(services)) {
    const service = asRecord(value) ?? {};
    const instances = count(service.instances, TOPOLOGY_DEFAULTS.service.instances, 16);
    const redundancy = asRecord(service.redundancy);
    const single = redundancy !== undefined && Object.keys(redundancy).length === 1;
    if (single && redundancy.active !== undefined && instances !== undefined && instances < 2) {
      problems.push({
        segments: ['services', name, 'redundancy'],
        message: `active redundancy needs instances >= 2 (instances is ${instances})`,
      });
    }
    const passive = asRecord(redundancy?.passive);
    const spares = passive === undefined ? 0 : (count(passive.spares, TOPOLOGY_DEFAULTS.passive.spares, 4) ?? 0);
    const names = [name];
    for (let n = 1; n <= (instances ?? 0); n++) names.push(`${name}-${n}`);
    for (let n = 1; n <= spares; n++) names.push(`${name}-spare-${n}`);
    for (const instance of names) {
      const other = owner.get(instance);
      if (other !== undefined && other !== name) {
        problems.push({
          segments: ['services', name],
          onKey: true,
          message: `the name ${instance} is also used by service ${other}; rename one of them`,
        });
        break;
      }
      owner.set(instance, name);
    }
  }

  const routes = asRecord(raw)?.routes;
  // A prefix may appear twice only with disjoint `methods` (seed 002's /venta: POST command, GET query).
  const prefixes = new Map<string, { index: number; methods: string[] | undefined }[]>();
  for (const [index, value] of (Array.isArray(routes) ? routes : []).entries()) {
    const route = asRecord(value) ?? {};
    if (typeof route.service === 'string' && !serviceNames.includes(route.service)) {
      problems.push({
        segments: ['routes', index, 'service'],
        message: `unknown service "${route.service}"${suggest(route.service, serviceNames)}`,
      });
    }
    if (typeof route.prefix !== 'string') continue;
    const methods = Array.isArray(route.methods) ? (route.methods as string[]) : undefined;
    const earlier = prefixes.get(route.prefix) ?? [];
    const clash = earlier.find(
      (other) => other.methods === undefined || methods === undefined || other.methods.some((m) => methods.includes(m)),
    );
    if (clash !== undefined) {
      problems.push({
        segments: ['routes', index, 'prefix'],
        message: `duplicate prefix "${route.prefix}", already routed by routes.${clash.index} (give both disjoint methods)`,
      });
    }
    prefixes.set(route.prefix, [...earlier, { index, methods }]);
  }
  return problems;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The fallback when absent, the value when a valid count (1..max), else undefined (the schema reports it). */
function count(value: unknown, fallback: number, max: number): number | undefined {
  if (value === undefined) return fallback;
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max ? value : undefined;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
