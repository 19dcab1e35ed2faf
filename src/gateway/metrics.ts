// The gateway's Prometheus metrics, per route and per instance. Label children are cached, so the
// hot path does a map lookup instead of hashing a label object on every request.
import { Counter, Gauge, Histogram } from 'prom-client';
import { httpDurationHistogram, LATENCY_BUCKETS, type Registry } from '../kit/metrics.ts';
import type { Member, MemberState } from './balancers/balancer.ts';
import type { Outcome } from './proxy.ts';

const STATES: readonly MemberState[] = ['healthy', 'ejected', 'down', 'syncing'];

interface StatusChildren {
  count: { inc(): void };
  durations: Map<string, { observe(value: number): void }>;
}

interface MemberChildren {
  durations: { observe(value: number): void };
  outcomes: Map<string, { inc(): void }>;
}

const CLASSES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];
const statusClass = (status: number) => CLASSES[Math.trunc(status / 100)] ?? 'other';

export interface GatewayMetrics {
  /** One client request answered (or stored) by the gateway. */
  request(method: string, route: string, status: number, seconds: number): void;
  /** One attempt on an instance. */
  attempt(service: string, member: Member, outcome: Outcome, seconds: number): void;
  /** Sets the state gauges of members (at start, and after each change). */
  memberStates(service: string, members: readonly Member[]): void;
  memberEjected(service: string, member: Member): void;
  retry(service: string, route: string): void;
  budgetRefusal(service: string, route: string): void;
  stored(service: string, route: string): void;
  pending(service: string, count: number): void;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const durations = httpDurationHistogram(registry);
  const requests = new Counter({
    name: 'archlab_gateway_requests_total',
    help: 'Client requests by route and status class (2xx … 5xx)',
    labelNames: ['route', 'class'],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'archlab_gateway_upstream_requests_total',
    help: 'Attempts on an instance by outcome: a status class, or refused / reset / timeout',
    labelNames: ['service', 'instance', 'outcome'],
    registers: [registry],
  });
  const attemptDurations = new Histogram({
    name: 'archlab_gateway_upstream_duration_seconds',
    help: 'Time of each attempt on an instance, until its answer or failure',
    labelNames: ['service', 'instance'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const ejections = new Counter({
    name: 'archlab_gateway_ejections_total',
    help: 'Instances ejected by passive outlier detection',
    labelNames: ['service', 'instance'],
    registers: [registry],
  });
  const states = new Gauge({
    name: 'archlab_gateway_member_state',
    help: '1 for the state each pool member is in (healthy, ejected, down, syncing), else 0',
    labelNames: ['service', 'instance', 'state'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'archlab_gateway_retries_total',
    help: 'Attempts retried on another instance',
    labelNames: ['service', 'route'],
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'archlab_gateway_retry_budget_refusals_total',
    help: 'Retries the retry budget refused',
    labelNames: ['service', 'route'],
    registers: [registry],
  });
  const stored = new Counter({
    name: 'archlab_gateway_stored_requests_total',
    help: 'Requests journaled by store-and-forward (answered 202)',
    labelNames: ['service', 'route'],
    registers: [registry],
  });
  const pending = new Gauge({
    name: 'archlab_gateway_pending_tickets',
    help: 'Store-and-forward tickets not yet replayed',
    labelNames: ['service'],
    registers: [registry],
  });

  // Label children cached per route / member: no label hashing on the hot path.
  const routes = new Map<string, Map<number, StatusChildren>>();
  const members = new WeakMap<Member, MemberChildren>();

  return {
    request(method, route, status, seconds) {
      let statuses = routes.get(route);
      if (statuses === undefined) {
        statuses = new Map();
        routes.set(route, statuses);
      }
      let children = statuses.get(status);
      if (children === undefined) {
        children = { count: requests.labels(route, statusClass(status)), durations: new Map() };
        statuses.set(status, children);
      }
      let histogram = children.durations.get(method);
      if (histogram === undefined) {
        histogram = durations.labels(method, route, String(status));
        children.durations.set(method, histogram);
      }
      histogram.observe(seconds);
      children.count.inc();
    },
    attempt(service, member, outcome, seconds) {
      let children = members.get(member);
      if (children === undefined) {
        children = { durations: attemptDurations.labels(service, member.name), outcomes: new Map() };
        members.set(member, children);
      }
      const kind =
        'failure' in outcome ? (outcome.failure === 'status' ? '5xx' : outcome.failure) : statusClass(outcome.status);
      let counter = children.outcomes.get(kind);
      if (counter === undefined) {
        counter = attempts.labels(service, member.name, kind);
        children.outcomes.set(kind, counter);
      }
      counter.inc();
      children.durations.observe(seconds);
    },
    memberStates(service, members) {
      for (const member of members) {
        for (const state of STATES)
          states.set({ service, instance: member.name, state }, state === member.state ? 1 : 0);
      }
    },
    memberEjected: (service, member) => ejections.inc({ service, instance: member.name }),
    retry: (service, route) => retries.inc({ service, route }),
    budgetRefusal: (service, route) => refusals.inc({ service, route }),
    stored: (service, route) => stored.inc({ service, route }),
    pending: (service, count) => pending.set({ service }, count),
  };
}
