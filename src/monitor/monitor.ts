// The ping-echo monitor: pings every target on a fixed schedule, feeds each echo to the target's
// detector, and publishes the transitions (log, metrics, sinks, subscribers).
//
// Schedule: each target is pinged on a fixed grid of intervalMs (drift-free; the targets' grids are
// staggered across one interval so many instances do not fire at once). A ping is sent on every
// slot even while an earlier one is still in flight, so a hung instance yields one miss per
// interval whatever timeoutMs is, and the detection bound is intervalMs × (failureThreshold − 1)
// + timeoutMs (+ timer lag) ≤ intervalMs × failureThreshold + timeoutMs. In-flight pings are
// bounded: each ends by its own deadline, so at most ⌈timeoutMs / intervalMs⌉ overlap; a slot that
// finds ⌈timeoutMs / intervalMs⌉ + 1 still in flight (timers delayed by a stalled event loop) is
// skipped, and slots missed during a stall are not made up in a burst.
// Echoes reach the detector in the order their pings were sent (an answer is held back while an
// earlier ping is outstanding), so a run of misses is always a run in send order.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Logger } from '../kit/logger.ts';
import { LATENCY_BUCKETS, type Registry } from '../kit/metrics.ts';
import type { MonitorSpec } from '../topology/types.ts';
import { createDetector, type Detector, type Echo, type EchoKind } from './detector.ts';
import { createHttpProbe, type Probe, type ProbeResult } from './probes/http.ts';
import type { TransitionSink } from './sinks.ts';
import type { InstanceHealth, MonitorSnapshot, Transition } from './types.ts';

export interface MonitorTarget {
  /** `<service>-<n>` or `<service>-spare-<n>`; unique. */
  instance: string;
  service: string;
  /** Base URL; the echo is GET <url>/health. */
  url: string;
  settings: MonitorSpec;
}

export interface MonitorOptions {
  targets: readonly MonitorTarget[];
  log: Logger;
  /** Where the archlab_monitor_* metrics are registered (none when absent). */
  registry?: Registry;
  /** Bus stream, JSON-lines file…: written in order, closed by close(). */
  sinks?: readonly TransitionSink[];
  onTransition?: (transition: Transition) => void;
  /**
   * Every echo, in send order, before the detector sees it (the lab's ping log; tests), with the
   * number of this target's pings still outstanding after it.
   */
  onEcho?: (target: MonitorTarget, echo: Echo, outstanding: number) => void;
  /** How a target is pinged; default GET /health over HTTP. */
  probe?: (target: MonitorTarget) => Probe;
}

export interface Monitor {
  /** Starts pinging (once). */
  start(): void;
  /** Stops the timers, aborts pings in flight, closes the connections, then flushes and closes the sinks. */
  close(): Promise<void>;
  snapshot(): MonitorSnapshot;
  /** Transitions from now on, in order; returns the unsubscribe function. */
  subscribe(listener: (transition: Transition) => void): () => void;
}

interface Pending {
  sentAt: number;
  startedAt: number;
  result: ProbeResult | undefined;
  seconds: number;
}

interface Watched {
  target: MonitorTarget;
  detector: Detector;
  probe: Probe;
  /** Pings in send order, answered or not; the answered head is drained to the detector. */
  inFlight: Pending[];
  maxInFlight: number;
  /** The next slot on this target's grid (performance.now() time). */
  nextSlot: number;
  timer: NodeJS.Timeout | undefined;
  metrics: TargetMetrics;
}

export function createMonitor(options: MonitorOptions): Monitor {
  const { log } = options;
  checkTargets(options.targets);
  const metrics = createMonitorMetrics(options.registry);
  const makeProbe =
    options.probe ?? ((target: MonitorTarget) => createHttpProbe(target.url, { timeoutMs: target.settings.timeoutMs }));
  const sinks = options.sinks ?? [];
  const listeners = new Set<(transition: Transition) => void>();
  const createdAt = Date.now();
  const watched: Watched[] = options.targets.map((target) => ({
    target,
    detector: createDetector(target, target.settings, createdAt),
    probe: makeProbe(target),
    inFlight: [],
    maxInFlight: Math.ceil(target.settings.timeoutMs / target.settings.intervalMs) + 1,
    nextSlot: 0,
    timer: undefined,
    metrics: metrics.target(target.instance),
  }));
  let started = false;
  let closed = false;

  function tick(w: Watched) {
    w.timer = undefined;
    if (closed) return;
    const now = performance.now();
    if (w.inFlight.length < w.maxInFlight) send(w);
    else
      log.debug(
        { instance: w.target.instance, inFlight: w.inFlight.length },
        'ping slot skipped: pings still in flight',
      );
    const { intervalMs } = w.target.settings;
    w.nextSlot += intervalMs;
    // Behind by more than a slot (a stalled event loop): skip to the next slot ahead, no burst.
    if (w.nextSlot <= now) w.nextSlot += Math.ceil((now - w.nextSlot + 1) / intervalMs) * intervalMs;
    w.timer = setTimeout(tick, w.nextSlot - now, w);
  }

  function send(w: Watched) {
    const pending: Pending = { sentAt: Date.now(), startedAt: performance.now(), result: undefined, seconds: 0 };
    w.inFlight.push(pending);
    w.probe.ping().then(
      (result) => answered(w, pending, result),
      (error: unknown) => answered(w, pending, { kind: 'miss', reason: String(error) }),
    );
  }

  function answered(w: Watched, pending: Pending, result: ProbeResult) {
    pending.result = result;
    pending.seconds = (performance.now() - pending.startedAt) / 1000;
    if (closed) return;
    while (w.inFlight[0]?.result !== undefined) {
      const head = w.inFlight.shift()!;
      const echo: Echo = { kind: head.result!.kind, sentAt: head.sentAt, reason: head.result!.reason };
      w.metrics.ping(echo.kind, head.seconds);
      try {
        options.onEcho?.(w.target, echo, w.inFlight.length);
      } catch (error) {
        log.error({ err: error }, 'monitor onEcho listener failed');
      }
      const transition = w.detector.observe(echo, Date.now());
      if (transition !== undefined) publish(w, transition);
    }
  }

  function publish(w: Watched, transition: Transition) {
    const { instance, service, url } = w.target;
    const fields = { instance, service, url, from: transition.from, to: transition.to, count: transition.count };
    if (transition.to === 'down') {
      log.warn(
        {
          ...fields,
          reason: transition.reason,
          firstMissAt: transition.firstMissAt,
          detectionMs: transition.detectionMs,
        },
        `instance ${instance} (${url}) is down`,
      );
    } else {
      log.info({ ...fields, reason: transition.reason }, `instance ${instance} (${url}) is ${transition.to}`);
    }
    w.metrics.transition(transition.to);
    for (const sink of sinks) sink.write(transition);
    for (const listener of [...listeners, options.onTransition]) {
      if (listener === undefined) continue;
      try {
        listener(transition);
      } catch (error) {
        log.error({ err: error, instance }, 'monitor transition listener failed');
      }
    }
  }

  return {
    start() {
      if (started || closed) return;
      started = true;
      const now = performance.now();
      watched.forEach((w, i) => {
        // Staggered across one interval: slot i of n starts i/n of an interval late.
        w.nextSlot = now + (w.target.settings.intervalMs * i) / watched.length;
        w.timer = setTimeout(tick, w.nextSlot - now, w);
      });
      log.info(
        { targets: options.targets.map(({ instance, url, settings }) => ({ instance, url, ...settings })) },
        'monitor started',
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of watched) clearTimeout(w.timer);
      listeners.clear();
      await Promise.all(watched.map((w) => w.probe.close()));
      await Promise.all(sinks.map((sink) => sink.close()));
    },
    snapshot() {
      return {
        instances: watched.map(({ target, detector }) => ({
          instance: target.instance,
          service: target.service,
          url: target.url,
          state: detector.state,
          since: new Date(detector.since).toISOString(),
        })),
      };
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

function checkTargets(targets: readonly MonitorTarget[]) {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { instance, settings } of targets) {
    if (seen.has(instance)) problems.push(`${instance}: listed twice`);
    seen.add(instance);
    for (const key of ['intervalMs', 'timeoutMs', 'failureThreshold', 'successThreshold'] as const) {
      const value = settings[key];
      if (!Number.isInteger(value) || value < 1)
        problems.push(`${instance}: ${key} must be a positive integer, not ${value}`);
    }
  }
  if (problems.length > 0) throw new RangeError(`invalid monitor targets: ${problems.join('; ')}`);
}

interface TargetMetrics {
  ping(kind: EchoKind, seconds: number): void;
  transition(to: InstanceHealth): void;
}

/** Label children are made once per target, so a ping costs a few increments, no label hashing. */
function createMonitorMetrics(registry: Registry | undefined) {
  const registers = registry === undefined ? [] : [registry];
  const pings = new Counter({
    name: 'archlab_monitor_pings_total',
    help: 'Echoes by outcome: ready (200), not-ready (503 ready: false), miss (error, timeout, other status)',
    labelNames: ['instance', 'outcome'],
    registers,
  });
  const durations = new Histogram({
    name: 'archlab_monitor_ping_duration_seconds',
    help: 'Time from sending a ping to its outcome (a timeout counts its full deadline)',
    labelNames: ['instance'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const transitions = new Counter({
    name: 'archlab_monitor_transitions_total',
    help: 'State changes decided by the monitor, by the state entered',
    labelNames: ['instance', 'to'],
    registers,
  });
  const up = new Gauge({
    name: 'archlab_monitor_instance_up',
    help: '1 while the monitor sees the instance up, else 0 (unknown, syncing, down)',
    labelNames: ['instance'],
    registers,
  });
  return {
    target(instance: string): TargetMetrics {
      const outcomes = {
        ready: pings.labels(instance, 'ready'),
        'not-ready': pings.labels(instance, 'not-ready'),
        miss: pings.labels(instance, 'miss'),
      };
      const duration = durations.labels(instance);
      const upChild = up.labels(instance);
      upChild.set(0);
      return {
        ping(kind, seconds) {
          outcomes[kind].inc();
          duration.observe(seconds);
        },
        transition(to) {
          transitions.inc({ instance, to });
          upChild.set(to === 'up' ? 1 : 0);
        },
      };
    },
  };
}
