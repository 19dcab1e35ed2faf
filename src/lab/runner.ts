// `archlab experiment run <file>`: for each variant, start the system on its own data directory with
// the variant's topology, wait until every instance is up, send the setup requests, then drive the
// load streams and the fault schedule from one start time, keep watching for `settle`, collect the
// raw facts (per-request log, faults with their exact times, monitor transitions, gateway counters,
// store-and-forward tickets), stop the system, and write the report with a verdict per hypothesis line.
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { AppError } from '../kit/errors.ts';
import type { SpanLine } from '../kit/spans.ts';
import type { Transition } from '../monitor/types.ts';
import { type Broker, startBroker } from './broker.ts';
import { LabErrors } from './errors.ts';
import {
  type Experiment,
  type FaultStep,
  isBrokerFault,
  type LoadStream,
  type RequestTemplate,
  type VerifyTemplate,
} from './experiment.ts';
import { runLoad, streamSeed } from './load/generator.ts';
import { compileTemplate } from './load/template.ts';
import { computeMetrics, judge, type Report, writeReport } from './report/index.ts';
import { type SystemUnderTest, startSystem, waitUntilHealthy } from './system.ts';
import { traceAccounting, traceFacts } from './traces.ts';
import type { CommandAccounting, FaultRecord, RequestRecord, RunRecord } from './types.ts';

/** Load and faults start this long after the setup, so the first scheduled sends are not late. */
const LEAD_MS = 200;
/** After the settle time, how long a command may still take to show in its `verify` check. */
const VERIFY_MS = 10_000;

export interface RunOptions {
  /** Where report folders go (default ./reports). */
  outDir: string;
  /** The command line that reproduces the run, for the report. */
  command: string;
  /** Progress lines (one a second while the load runs). */
  progress: (line: string) => void;
}

export interface RunOutcome {
  dir: string;
  /** True when every hypothesis line of every variant holds. */
  holds: boolean;
  report: Report;
}

export async function runExperiment(experiment: Experiment, options: RunOptions): Promise<RunOutcome> {
  const stamp = new Date()
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z');
  const dir = path.resolve(options.outDir, `${stamp}-${experiment.name}`);
  await mkdir(dir, { recursive: true });
  const variants: Report['variants'] = [];
  for (const variant of experiment.variants) {
    options.progress(`[${variant.name}] starting the system`);
    const run = await runVariant(experiment, variant, path.join(dir, 'variants', variant.name), options.progress);
    const metrics = computeMetrics(run);
    variants.push({ name: variant.name, run, metrics, verdict: judge(metrics, experiment.hypothesis) });
  }
  const report: Report = {
    experiment: experiment.name,
    file: experiment.file,
    createdAt: new Date().toISOString(),
    command: options.command,
    hypothesis: experiment.hypothesis,
    variants,
  };
  await writeReport(dir, report);
  const holds = variants.every((v) => v.verdict.every((line) => line.holds));
  return { dir, holds, report };
}

async function runVariant(
  experiment: Experiment,
  variant: Experiment['variants'][number],
  dir: string,
  progress: (line: string) => void,
): Promise<RunRecord> {
  await mkdir(dir, { recursive: true });
  const base = parseYaml(await readFile(experiment.topology, 'utf8')) as Record<string, unknown>;
  const topologyFile = path.join(dir, 'topology.yaml');
  await writeFile(topologyFile, stringifyYaml(merge(base, variant.overrides)));
  // The lab's own broker, when the experiment has one: the system's bus, faulted on schedule.
  const broker = experiment.broker === undefined ? undefined : await startBroker(path.join(dir, 'broker'));
  const system = await startSystem({
    topologyFile,
    dataDir: path.join(dir, 'data'),
    env: broker === undefined ? {} : { ARCHLAB_BUS_URL: `${broker.url}?prefix=lab:` },
  }).catch(async (error: unknown) => {
    await broker?.close();
    throw error;
  });
  let record: RunRecord;
  try {
    await waitUntilHealthy(system);
    const captured: Record<string, string> = {};
    for (const request of experiment.setup) await setupRequest(system, withCaptured(request, captured), captured);
    const streams = experiment.load.map((stream) => ({ ...stream, request: withCaptured(stream.request, captured) }));

    const startedAt = Date.now() + LEAD_MS;
    const runId = `${experiment.name}-${variant.name}-${startedAt.toString(36)}`;
    const faults = scheduleFaults({ system, broker }, experiment.faults, startedAt);
    const load = await runLoad({
      origin: system.run.gateway!,
      startAt: startedAt,
      runId,
      seed: experiment.seed,
      streams: streams.map(toStream),
      onProgress: (stats) =>
        progress(
          `[${variant.name}] ${(stats.elapsedMs / 1000).toFixed(0).padStart(4)} s  ${stats.rate.toFixed(0).padStart(6)} req/s  sent ${stats.sent}  answered ${stats.answered}  errors ${stats.errors}  phase ${phaseAt(experiment.faults, stats.elapsedMs)}`,
        ),
    });
    const faultRecords = await faults;
    progress(`[${variant.name}] load done; watching for ${experiment.settleMs} ms`);
    await sleep(experiment.settleMs);
    const endedAt = Date.now();
    record = {
      experiment: experiment.name,
      variant: variant.name,
      startedAt,
      endedAt,
      requests: load.records,
      faults: faultRecords,
      transitions: await readTransitions(system),
      generator: load.generator,
      commands: await accountCommands(system, load.records, {
        streams,
        runId,
        seed: experiment.seed,
        deadline: Date.now() + VERIFY_MS,
      }),
      counters: await gatewayCounters(system),
    };
  } finally {
    await system.stop();
    await broker?.close();
  }
  // Read once the system stopped: every process has written its last spans on the way out.
  attachTraces(record, await readSpans(path.join(system.dataDir, 'spans'), record.requests));
  return record;
}

/** The spans of the run's traces from every process's `<instance>.jsonl` (other lines are skipped). */
async function readSpans(dir: string, requests: readonly RequestRecord[]): Promise<SpanLine[]> {
  const traces = new Set(requests.map((r) => r.traceId).filter((id) => id != null));
  const files = await readdir(dir).catch(() => [] as string[]);
  const spans: SpanLine[] = [];
  for (const file of files.filter((name) => name.endsWith('.jsonl'))) {
    const lines = createInterface({
      input: createReadStream(path.join(dir, file)),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const line of lines) {
      // The trace id is the first field: skip other traces without parsing them.
      if (!traces.has(line.slice(12, 44))) continue;
      try {
        spans.push(JSON.parse(line) as SpanLine);
      } catch {
        // a line cut short by a SIGKILLed writer
      }
    }
  }
  return spans;
}

/** Each request's trace facts, and what they add to the command accounting. */
function attachTraces(record: RunRecord, spans: readonly SpanLine[]) {
  const facts = traceFacts(spans);
  for (const request of record.requests) request.trace = request.traceId ? (facts.get(request.traceId) ?? null) : null;
  if (record.commands !== null) {
    const accepted = record.requests.filter((r) => r.command && r.status >= 200 && r.status < 300);
    record.commands = { ...record.commands, ...traceAccounting(accepted) };
  }
}

/** The load generator's stream for an experiment stream. */
function toStream(stream: LoadStream) {
  return {
    name: stream.name,
    schedule: { steps: stream.steps, arrivals: stream.arrivals, maxRequests: stream.maxRequests },
    template: stream.request,
    timeoutMs: stream.timeoutMs,
  };
}

function phaseAt(faults: readonly FaultStep[], elapsedMs: number): string {
  const last = faults.filter((f) => f.atMs <= elapsedMs).at(-1);
  return last === undefined ? 'steady' : `after ${last.action} ${last.target}`;
}

/** What faults act on: the system's instances, and the lab's own broker when the experiment has one. */
interface FaultTargets {
  system: SystemUnderTest;
  broker: Broker | undefined;
}

/** Carries out every fault at its time (from one start time, never drifting), recording the exact moment. */
async function scheduleFaults(targets: FaultTargets, faults: readonly FaultStep[], startedAt: number) {
  const records: FaultRecord[] = [];
  for (const fault of faults) {
    const due = startedAt + fault.atMs - Date.now();
    if (due > 0) await sleep(due);
    const at = Date.now();
    try {
      await carryOut(targets, fault);
      records.push({ plannedMs: fault.atMs, at, action: fault.action, target: fault.target, ok: true, error: null });
    } catch (error) {
      const message = (error as Error).message;
      records.push({
        plannedMs: fault.atMs,
        at,
        action: fault.action,
        target: fault.target,
        ok: false,
        error: message,
      });
    }
  }
  return records;
}

/** The request with every `{name}` of a captured value replaced, in its path and body strings. */
export function withCaptured<T extends RequestTemplate>(request: T, captured: Record<string, string>): T {
  if (Object.keys(captured).length === 0) return request;
  const fill = (value: unknown): unknown => {
    if (typeof value === 'string')
      return value.replace(/\{([a-z][a-zA-Z0-9]*)\}/g, (all, name) => captured[name] ?? all);
    if (Array.isArray(value)) return value.map(fill);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, fill(inner)]));
    }
    return value;
  };
  return {
    ...request,
    path: fill(request.path) as string,
    ...(request.body === undefined ? {} : { body: fill(request.body) }),
  };
}

const REQUEST_FAULTS = { delay: 'http.delay-ms', errors: 'http.error-rate' } as const;

const BROKER_FAULTS = { 'broker-stop': 'stop', 'broker-kill': 'kill', 'broker-start': 'start' } as const;

async function carryOut({ system, broker }: FaultTargets, fault: FaultStep) {
  if (isBrokerFault(fault.action)) {
    if (broker === undefined) throw new AppError(409, LabErrors.FAULT_FAILED, `${fault.action}: no broker was started`);
    return broker[BROKER_FAULTS[fault.action]]();
  }
  if (fault.action === 'delay' || fault.action === 'errors') {
    return system.requestFault(fault.target, REQUEST_FAULTS[fault.action], fault.value);
  }
  if (fault.action === 'clear') {
    for (const name of Object.values(REQUEST_FAULTS)) await system.requestFault(fault.target, name, undefined);
    return;
  }
  return system.fault(fault.action, fault.target, fault.hold);
}

async function setupRequest(system: SystemUnderTest, request: RequestTemplate, captured: Record<string, string>) {
  const res = await fetch(`${system.run.gateway}${request.path}`, {
    method: request.method,
    headers: { 'content-type': 'application/json', ...request.headers },
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new AppError(
      500,
      LabErrors.SETUP_FAILED,
      `setup ${request.method} ${request.path} answered ${res.status}: ${text}`,
    );
  }
  if (request.capture !== undefined) {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    if (typeof id !== 'string' && typeof id !== 'number') {
      throw new AppError(
        500,
        LabErrors.SETUP_FAILED,
        `setup ${request.method} ${request.path}: no id to capture in ${text}`,
      );
    }
    captured[request.capture] = String(id);
  }
}

async function readTransitions(system: SystemUnderTest): Promise<Transition[]> {
  const text = await readFile(path.join(system.dataDir, 'monitor', 'events.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Transition);
}

const COUNTERS = [
  'archlab_gateway_retries_total',
  'archlab_gateway_retry_budget_refusals_total',
  'archlab_gateway_stored_requests_total',
  'archlab_gateway_ejections_total',
];

/** Sums of the gateway's retry, refusal, store-and-forward and ejection counters over all labels. */
async function gatewayCounters(system: SystemUnderTest): Promise<Record<string, number>> {
  const text = await fetch(`${system.run.gateway}/metrics`, { signal: AbortSignal.timeout(5000) })
    .then((res) => res.text())
    .catch(() => '');
  const sums: Record<string, number> = Object.fromEntries(COUNTERS.map((name) => [name, 0]));
  for (const line of text.split('\n')) {
    const name = line.split(/[{ ]/, 1)[0]!;
    if (name in sums) sums[name]! += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sums;
}

/**
 * What became of the accepted commands: a 200/201 answer was committed by the service before it
 * answered; a 202 with a gateway ticket is persisted once its replay is done, dead-lettered when it
 * failed, and counts as lost while still pending after the settle time; a command whose stream has a
 * `verify` check is persisted once that check sees it (lost if it never does); a 202 without a ticket
 * or a check (the service queued it itself) is counted apart as not checked.
 */
async function accountCommands(
  system: SystemUnderTest,
  records: readonly RequestRecord[],
  context: { streams: readonly LoadStream[]; runId: string; seed: number; deadline: number },
): Promise<CommandAccounting | null> {
  const accepted = records.filter((r) => r.command && r.status >= 200 && r.status < 300);
  if (accepted.length === 0) return null;
  const checks = new Map<string, { verify: VerifyTemplate; build: (index: number) => { path: string } }>();
  for (const stream of context.streams) {
    if (stream.verify === undefined) continue;
    const build = compileTemplate(
      { method: stream.verify.method, path: stream.verify.path },
      { runId: context.runId, seed: streamSeed(context.seed, stream.name), stream: stream.name },
    );
    checks.set(stream.name, { verify: stream.verify, build });
  }
  let persisted = 0;
  let unverified = 0;
  let deadLettered = 0;
  for (const record of accepted) {
    const check = checks.get(record.stream);
    if (record.ticket === null && check !== undefined) {
      // The experiment says how to see this command's effect: ask until it shows or time is up.
      // `{id}` in the check's path stands for the id the command's answer gave.
      const pathname = check.build(record.index).path;
      if (pathname.includes('{id}') && !record.answerId) {
        unverified++;
        continue;
      }
      const resolved = pathname.replaceAll('{id}', encodeURIComponent(record.answerId ?? ''));
      if (await verified(system, resolved, check.verify, context.deadline)) persisted++;
      continue;
    }
    if (record.ticket === null) {
      if (record.status === 202) unverified++;
      else persisted++;
      continue;
    }
    const res = await fetch(`${system.run.gateway}/pending_results/${record.ticket}`).catch(() => undefined);
    const state = res?.ok ? ((await res.json()) as { state: string }).state : 'unknown';
    if (state === 'done') persisted++;
    else if (state === 'failed') deadLettered++;
  }
  return {
    accepted: accepted.length,
    persisted,
    unverified,
    deadLettered,
    lost: Math.max(0, accepted.length - persisted - unverified - deadLettered),
    // From the spans, once the system stopped (attachTraces).
    projected: null,
    duplicates: null,
    lagP50Ms: null,
    lagP99Ms: null,
  };
}

async function verified(system: SystemUnderTest, pathname: string, verify: VerifyTemplate, deadline: number) {
  for (;;) {
    const res = await fetch(`${system.run.gateway}${pathname}`, {
      method: verify.method,
      signal: AbortSignal.timeout(5000),
    }).catch(() => undefined);
    if (res !== undefined) {
      const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      const matches = Object.entries(verify.expect).every(([key, value]) => body?.[key] === value);
      if (res.status === verify.status && matches) return true;
    }
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** Keys whose value is one choice (`active` or `passive`), so an override replaces it whole. */
const REPLACED_WHOLE = new Set(['redundancy']);

/** Maps merge key by key; anything else (lists, scalars, a redundancy choice) in `overrides` replaces. */
export function merge(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = merged[key];
    merged[key] =
      isMap(current) && isMap(value) && !REPLACED_WHOLE.has(key)
        ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return merged;
}

const isMap = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
