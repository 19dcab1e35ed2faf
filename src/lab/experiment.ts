// Experiment files: what to start, what load to drive, which faults to inject when, what must hold
// (the hypothesis), and the variants to compare. YAML checked against a schema, every problem
// reported at once with its line (kit/yaml-config.ts); durations as `20s`, `500ms` or milliseconds.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { AppError, KitErrors } from '../kit/errors.ts';
import { type Located, parseValidated } from '../kit/yaml-config.ts';
import type { Hypothesis } from './types.ts';

/**
 * Process faults (through the supervisor) and request faults on one instance (its /_admin/faults):
 * `delay` adds `value` ms to every answer, `errors` fails a `value` share (0..1) with 500, `clear`
 * removes both. Broker faults act on the lab's own broker (target `redis`, see broker.ts):
 * `broker-stop` is a graceful stop (SIGTERM), `broker-kill` a crash (SIGKILL), `broker-start` brings
 * it back on the same port and data.
 */
export type FaultAction = InstanceFaultAction | BrokerFaultAction;
type InstanceFaultAction = 'kill' | 'hang' | 'resume' | 'restart' | 'delay' | 'errors' | 'clear';
export type BrokerFaultAction = 'broker-stop' | 'broker-kill' | 'broker-start';

const INSTANCE_FAULTS: readonly InstanceFaultAction[] = [
  'kill',
  'hang',
  'resume',
  'restart',
  'delay',
  'errors',
  'clear',
];
const BROKER_FAULTS: readonly BrokerFaultAction[] = ['broker-stop', 'broker-kill', 'broker-start'];
/** The brokers the lab can start for an experiment (the target of broker faults). */
export const BROKERS = ['redis'] as const;
export type BrokerKind = (typeof BROKERS)[number];

export function isBrokerFault(action: FaultAction): action is BrokerFaultAction {
  return (BROKER_FAULTS as readonly string[]).includes(action);
}

export interface RequestTemplate {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** A command (changes state): counted in the command accounting. */
  command: boolean;
  /** Setup only: keep the answer's `id` under this name; later requests say `{name}` for it. */
  capture?: string;
}

/** How to check, after the run, that an accepted command took effect (rendered for the same index). */
export interface VerifyTemplate {
  method: string;
  path: string;
  status: number;
  /** Fields the JSON answer must have with these values. */
  expect: Record<string, unknown>;
}

export interface LoadStream {
  name: string;
  verify: VerifyTemplate | undefined;
  /** Arrival rate steps (a constant rate is one step). */
  steps: { rate: number; durationMs: number }[];
  arrivals: 'uniform' | 'poisson';
  maxRequests: number | undefined;
  timeoutMs: number;
  request: RequestTemplate;
}

export interface FaultStep {
  atMs: number;
  action: FaultAction;
  target: string;
  /** With kill: the supervisor does not restart it (a later `restart` brings it back). */
  hold: boolean;
  /** With delay (ms) and errors (share 0..1). */
  value: number | undefined;
}

export interface Variant {
  name: string;
  /** Merged into the topology file, map by map (lists replace). */
  overrides: Record<string, unknown>;
}

export interface Experiment {
  name: string;
  description: string;
  /** The experiment file, when it came from one. */
  file: string | null;
  /** The topology file to start (absolute). */
  topology: string;
  seed: number;
  hypothesis: Hypothesis;
  /** Requests sent once, in order, before the load; each must succeed. */
  setup: RequestTemplate[];
  load: LoadStream[];
  faults: FaultStep[];
  /** How long to keep watching after the load ends (late replays, fail-back). */
  settleMs: number;
  variants: Variant[];
  /**
   * A broker the lab starts for each variant and hands the system as its bus (`broker: redis`, or
   * implied by any broker fault); undefined: the system uses the bus its topology names.
   */
  broker: BrokerKind | undefined;
}

const DURATION = '^\\d+(\\.\\d+)?(ms|s|m)$';
const duration = {
  anyOf: [
    { type: 'integer', minimum: 0 },
    { type: 'string', pattern: DURATION },
  ],
} as const;
const NAME = { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' } as const;

const requestSchema = {
  type: 'object',
  properties: {
    method: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] },
    path: { type: 'string', pattern: '^/' },
    body: {},
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    command: { type: 'boolean' },
  },
  required: ['method', 'path'],
  additionalProperties: false,
} as const;

const percentiles = {
  type: 'object',
  properties: {
    p50: { type: 'number', minimum: 0 },
    p90: { type: 'number', minimum: 0 },
    p99: { type: 'number', minimum: 0 },
    p999: { type: 'number', minimum: 0 },
    max: { type: 'number', minimum: 0 },
  },
  additionalProperties: false,
} as const;

const fraction = { type: 'number', minimum: 0, maximum: 1 } as const;

export const experimentSchema = {
  type: 'object',
  properties: {
    name: NAME,
    description: { type: 'string' },
    topology: { type: 'string', minLength: 1 },
    seed: { type: 'integer', minimum: 0 },
    settle: duration,
    broker: { enum: BROKERS },
    hypothesis: {
      type: 'object',
      properties: {
        availability: {
          type: 'object',
          properties: { overall: fraction, worstWindow: fraction },
          additionalProperties: false,
        },
        latencyMs: percentiles,
        lostCommands: { type: 'integer', minimum: 0 },
        detectionMs: { type: 'number', minimum: 0 },
        recoveryMs: { type: 'number', minimum: 0 },
        commandToQueryLagMs: { type: 'number', minimum: 0 },
      },
      additionalProperties: false,
    },
    setup: {
      type: 'array',
      items: {
        ...requestSchema,
        properties: { ...requestSchema.properties, capture: { type: 'string', pattern: '^[a-z][a-zA-Z0-9]*$' } },
      },
    },
    load: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: {
          name: NAME,
          rate: { type: 'number', exclusiveMinimum: 0, maximum: 100_000 },
          duration,
          steps: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              properties: { rate: { type: 'number', minimum: 0, maximum: 100_000 }, duration },
              required: ['rate', 'duration'],
              additionalProperties: false,
            },
          },
          arrivals: { enum: ['uniform', 'poisson'] },
          maxRequests: { type: 'integer', minimum: 1, maximum: 10_000_000 },
          timeout: duration,
          request: requestSchema,
          verify: {
            type: 'object',
            properties: {
              method: { enum: ['GET', 'HEAD', 'POST'] },
              path: { type: 'string', pattern: '^/' },
              status: { type: 'integer', minimum: 100, maximum: 599 },
              expect: { type: 'object' },
            },
            required: ['path'],
            additionalProperties: false,
          },
        },
        required: ['name', 'request'],
        additionalProperties: false,
      },
    },
    faults: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          at: duration,
          action: { enum: [...INSTANCE_FAULTS, ...BROKER_FAULTS] },
          target: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
          hold: { type: 'boolean' },
          value: { type: 'number', minimum: 0 },
        },
        required: ['at', 'action', 'target'],
        additionalProperties: false,
      },
    },
    variants: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: { name: NAME, overrides: { type: 'object' } },
        required: ['name'],
        additionalProperties: false,
      },
    },
  },
  required: ['name', 'load'],
  additionalProperties: false,
} as const;

interface RawRequest {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  command?: boolean;
  capture?: string;
}

interface RawExperiment {
  name: string;
  description?: string;
  topology?: string;
  seed?: number;
  settle?: number | string;
  broker?: BrokerKind;
  hypothesis?: Hypothesis;
  setup?: RawRequest[];
  load: {
    name: string;
    rate?: number;
    duration?: number | string;
    steps?: { rate: number; duration: number | string }[];
    arrivals?: 'uniform' | 'poisson';
    maxRequests?: number;
    timeout?: number | string;
    request: RawRequest;
    verify?: { method?: string; path: string; status?: number; expect?: Record<string, unknown> };
  }[];
  faults?: { at: number | string; action: FaultAction; target: string; hold?: boolean; value?: number }[];
  variants?: { name: string; overrides?: Record<string, unknown> }[];
}

// verbose: errors carry the offending value, so a message can say what it got.
const validate = new Ajv({ allErrors: true, strict: false, verbose: true }).compile<RawExperiment>(experimentSchema);

/** The bundled default topology, when an experiment names none. */
export const DEFAULT_TOPOLOGY = new URL('../../archlab.yaml', import.meta.url).pathname;

export async function loadExperiment(file: string): Promise<Experiment> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new AppError(400, KitErrors.CONFIG_INVALID, `${file}: cannot read the experiment file (${reason})`);
  }
  return parseExperiment(text, path.resolve(file));
}

/** `file` names the source in messages and anchors a relative `topology:` path. */
export function parseExperiment(text: string, file: string | null): Experiment {
  const raw = parseValidated(text, {
    file: file ?? '<inline>',
    validate,
    crossCheck,
    rootHint: 'a map with at least name: and load:',
  });
  const base = file === null ? process.cwd() : path.dirname(file);
  const request = (r: RawRequest): RequestTemplate => ({
    method: r.method,
    path: r.path,
    ...(r.body === undefined ? {} : { body: r.body }),
    ...(r.headers === undefined ? {} : { headers: r.headers }),
    command: r.command ?? !['GET', 'HEAD'].includes(r.method),
    ...(r.capture === undefined ? {} : { capture: r.capture }),
  });
  return {
    name: raw.name,
    description: raw.description ?? '',
    file,
    topology: raw.topology === undefined ? DEFAULT_TOPOLOGY : path.resolve(base, raw.topology),
    seed: raw.seed ?? 1,
    hypothesis: raw.hypothesis ?? {},
    setup: (raw.setup ?? []).map(request),
    load: raw.load.map((stream) => ({
      name: stream.name,
      verify:
        stream.verify === undefined
          ? undefined
          : {
              method: stream.verify.method ?? 'GET',
              path: stream.verify.path,
              status: stream.verify.status ?? 200,
              expect: stream.verify.expect ?? {},
            },
      steps: stream.steps?.map((step) => ({ rate: step.rate, durationMs: toMs(step.duration) })) ?? [
        { rate: stream.rate!, durationMs: toMs(stream.duration!) },
      ],
      arrivals: stream.arrivals ?? 'uniform',
      maxRequests: stream.maxRequests,
      timeoutMs: stream.timeout === undefined ? 2000 : toMs(stream.timeout),
      request: request(stream.request),
    })),
    faults: (raw.faults ?? [])
      .map((fault) => ({
        atMs: toMs(fault.at),
        action: fault.action,
        target: fault.target,
        hold: fault.hold ?? false,
        value: fault.value,
      }))
      .sort((a, b) => a.atMs - b.atMs),
    settleMs: raw.settle === undefined ? 2000 : toMs(raw.settle),
    variants: (raw.variants ?? [{ name: 'baseline' }]).map((v) => ({ name: v.name, overrides: v.overrides ?? {} })),
    // crossCheck has made sure a broker fault's target is one of BROKERS.
    broker: raw.broker ?? ((raw.faults ?? []).find((fault) => isBrokerFault(fault.action))?.target as BrokerKind),
  };
}

/** `20s`, `500ms`, `1.5m` or a number of milliseconds. */
export function toMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value)!;
  const unit = match[2] === 'ms' ? 1 : match[2] === 's' ? 1000 : 60_000;
  return Math.round(Number(match[1]) * unit);
}

function crossCheck(raw: unknown): Located[] {
  const problems: Located[] = [];
  const experiment = raw as Partial<RawExperiment>;
  for (const [index, stream] of (Array.isArray(experiment.load) ? experiment.load : []).entries()) {
    if (typeof stream !== 'object' || stream === null) continue;
    const constant = stream.rate !== undefined || stream.duration !== undefined;
    if (constant === (stream.steps !== undefined)) {
      problems.push({ segments: ['load', index], message: 'give either rate and duration, or steps' });
    } else if (constant && (stream.rate === undefined || stream.duration === undefined)) {
      problems.push({ segments: ['load', index], message: 'a constant stream needs both rate and duration' });
    }
  }
  for (const [index, fault] of (Array.isArray(experiment.faults) ? experiment.faults : []).entries()) {
    if (typeof fault !== 'object' || fault === null) continue;
    if ((fault.action === 'delay' || fault.action === 'errors') && typeof fault.value !== 'number') {
      problems.push({
        segments: ['faults', index],
        message: `${fault.action} needs a value (ms for delay, a share 0..1 for errors)`,
      });
    } else if (fault.action === 'errors' && typeof fault.value === 'number' && fault.value > 1) {
      problems.push({ segments: ['faults', index, 'value'], message: 'errors takes a share from 0 to 1' });
    }
  }
  problems.push(...brokerProblems(Array.isArray(experiment.faults) ? experiment.faults : []));
  const names = new Set<string>();
  for (const [index, variant] of (Array.isArray(experiment.variants) ? experiment.variants : []).entries()) {
    if (typeof variant?.name !== 'string') continue;
    if (names.has(variant.name)) {
      problems.push({ segments: ['variants', index, 'name'], message: `duplicate variant name "${variant.name}"` });
    }
    names.add(variant.name);
  }
  return problems;
}

type RawFault = NonNullable<RawExperiment['faults']>[number];

/**
 * Broker faults name a broker the lab can start, take no hold or value, and fit the broker's state in
 * time order: stop or kill while it runs, start once it is down (it runs when the load begins).
 */
function brokerProblems(faults: readonly unknown[]): Located[] {
  const problems: Located[] = [];
  const broker = faults
    .map((fault, index) => ({ fault: fault as RawFault, index }))
    .filter(({ fault }) => typeof fault === 'object' && fault !== null && isBrokerFault(fault.action));
  for (const { fault, index } of broker) {
    if (!(BROKERS as readonly string[]).includes(fault.target)) {
      problems.push({
        segments: ['faults', index, 'target'],
        message: `broker faults target the broker: ${BROKERS.join(', ')}`,
      });
    }
    if (fault.hold !== undefined || fault.value !== undefined) {
      problems.push({ segments: ['faults', index], message: `${fault.action} takes no hold or value` });
    }
  }
  const timed = broker.filter(
    ({ fault }) => typeof fault.at === 'number' || new RegExp(DURATION).test(String(fault.at)),
  );
  let down: RawFault | undefined;
  for (const { fault, index } of timed.sort((a, b) => toMs(a.fault.at) - toMs(b.fault.at))) {
    if (fault.action === 'broker-start' && down === undefined) {
      problems.push({
        segments: ['faults', index],
        message: `broker-start at ${fault.at}: the broker is running then`,
      });
    } else if (fault.action !== 'broker-start' && down !== undefined) {
      problems.push({
        segments: ['faults', index],
        message: `${fault.action} at ${fault.at}: the broker is already down (${down.action} at ${down.at})`,
      });
    }
    down = fault.action === 'broker-start' ? undefined : (down ?? fault);
  }
  return problems;
}
