// The JSON Schema of archlab.yaml as written (before defaults). docs/topology.md describes the same
// form for users; keep the two in step. Every object is closed (additionalProperties: false) so a
// misspelt field is an error instead of a silently ignored default.
//
// `description` on a pattern doubles as the error text ("must be <description>"), because a raw
// regular expression in an error message helps nobody.
import { Ajv, type ValidateFunction } from 'ajv';
import type { BalancePolicy, MonitorSpec, ServiceKind, ServiceRole } from './types.ts';

export const SERVICE_NAME_PATTERN = '^[a-z][a-z0-9]*(-[a-z0-9]+)+$';

const positiveInt = { type: 'integer', minimum: 1 } as const;

// No double slashes either: the gateway matches on segment boundaries, and an empty segment never matches.
const pathSchema = {
  type: 'string',
  pattern: '^(/|(/[^/\\s]+)+)$',
  description: 'a path that starts with "/" and has no trailing slash, e.g. /api-queries/users',
} as const;

const urlSchema = {
  type: 'string',
  pattern: '^[a-z][a-z0-9+.-]*:\\S+$',
  description: 'a URL such as sqlite:./data, postgres://host/db or redis://host:6379',
} as const;

const activeSchema = {
  type: 'object',
  properties: { policy: { enum: ['primary-backup', 'round-robin', 'least-outstanding'] } },
  required: ['policy'],
  additionalProperties: false,
} as const;

const passiveSchema = {
  type: 'object',
  properties: {
    spares: { type: 'integer', minimum: 1, maximum: 4 },
    mode: { enum: ['cold', 'warm'] },
  },
  additionalProperties: false,
} as const;

// if/then/else rather than oneOf: oneOf reports a failure for every branch, so one typo would come
// back as four unrelated complaints. Here only the branch the value was meant for is checked.
const redundancySchema = {
  if: { type: 'string' },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword, not a thenable
  then: { const: 'none', description: 'none, { active: { policy } } or { passive: { spares, mode } }' },
  else: {
    type: 'object',
    properties: { active: activeSchema, passive: passiveSchema },
    minProperties: 1,
    maxProperties: 1,
    additionalProperties: false,
  },
} as const;

const monitorSchema = {
  type: 'object',
  properties: {
    intervalMs: positiveInt,
    timeoutMs: positiveInt,
    failureThreshold: positiveInt,
    successThreshold: positiveInt,
  },
  additionalProperties: false,
} as const;

const serviceSchema = {
  type: 'object',
  properties: {
    program: {
      type: 'string',
      pattern: '^[a-z][a-z0-9]*(-[a-z0-9]+)*$',
      description: 'a program name in lowercase words joined by "-", e.g. users-commands',
    },
    kind: { enum: ['http', 'grpc'] },
    role: { enum: ['command', 'query', 'worker'] },
    instances: { type: 'integer', minimum: 1, maximum: 16 },
    redundancy: redundancySchema,
    monitor: monitorSchema,
    env: {
      type: 'object',
      propertyNames: {
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'an environment variable name (letters, digits, _)',
      },
      additionalProperties: { type: 'string' },
    },
  },
  additionalProperties: false,
} as const;

const routeSchema = {
  type: 'object',
  properties: {
    prefix: pathSchema,
    service: { type: 'string', minLength: 1 },
    rewrite: pathSchema,
    idempotent: { type: 'boolean' },
    storeAndForward: { type: 'boolean' },
    timeoutMs: positiveInt,
    tryTimeoutMs: positiveInt,
    grpc: {
      type: 'object',
      properties: {
        method: {
          type: 'string',
          pattern: '^[A-Z][A-Za-z0-9]*$',
          description: 'an rpc of calculator.Calculator, e.g. Add',
        },
        label: { type: 'string', minLength: 1, maxLength: 64 },
      },
      required: ['method'],
      additionalProperties: false,
    },
    storedMessage: { type: 'string', minLength: 1, maxLength: 200 },
    methods: {
      type: 'array',
      items: { enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] },
      minItems: 1,
      uniqueItems: true,
    },
  },
  required: ['prefix', 'service'],
  additionalProperties: false,
} as const;

export const topologySchema = {
  type: 'object',
  properties: {
    store: urlSchema,
    bus: urlSchema,
    gateway: {
      type: 'object',
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        bodyLimitBytes: positiveInt,
        adminPort: { type: 'integer', minimum: 0, maximum: 65535 },
        ejectAfter5xx: positiveInt,
        retryBudget: {
          type: 'object',
          properties: {
            percent: { type: 'number', minimum: 0, maximum: 100 },
            minRetries: { type: 'integer', minimum: 0 },
            windowMs: positiveInt,
          },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
    monitor: monitorSchema,
    tracing: {
      type: 'object',
      properties: {
        spans: { type: 'boolean' },
        rootSampleRatio: { type: 'number', minimum: 0, maximum: 1 },
      },
      additionalProperties: false,
    },
    services: {
      type: 'object',
      propertyNames: {
        pattern: SERVICE_NAME_PATTERN,
        description: 'a <domain>-<role> name in lowercase words joined by "-", e.g. users-commands',
      },
      minProperties: 1,
      additionalProperties: serviceSchema,
    },
    routes: { type: 'array', items: routeSchema },
  },
  required: ['services'],
  additionalProperties: false,
} as const;

/** The file's shape once it passed the schema: everything but `services` may be missing. */
export interface RawTopology {
  store?: string;
  bus?: string;
  gateway?: {
    host?: string;
    port?: number;
    bodyLimitBytes?: number;
    adminPort?: number;
    ejectAfter5xx?: number;
    retryBudget?: { percent?: number; minRetries?: number; windowMs?: number };
  };
  monitor?: { intervalMs?: number; timeoutMs?: number; failureThreshold?: number; successThreshold?: number };
  tracing?: { spans?: boolean; rootSampleRatio?: number };
  services: Record<string, RawService>;
  routes?: RawRoute[];
}

export type RawRedundancy =
  | 'none'
  | { active: { policy: BalancePolicy } }
  | { passive: { spares?: number; mode?: 'cold' | 'warm' } };

export interface RawService {
  program?: string;
  kind?: ServiceKind;
  role?: ServiceRole;
  instances?: number;
  redundancy?: RawRedundancy;
  monitor?: Partial<MonitorSpec>;
  env?: Record<string, string>;
}

export interface RawRoute {
  prefix: string;
  service: string;
  rewrite?: string;
  idempotent?: boolean;
  storeAndForward?: boolean;
  timeoutMs?: number;
  tryTimeoutMs?: number;
  grpc?: { method: string; label?: string };
  storedMessage?: string;
  methods?: string[];
}

// verbose: the error formatter reads `parentSchema` for descriptions and allowed field names.
const ajv = new Ajv({ allErrors: true, verbose: true });

export const validateRawTopology: ValidateFunction<RawTopology> = ajv.compile<RawTopology>(topologySchema);
