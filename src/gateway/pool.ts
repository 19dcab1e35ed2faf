// The gateway's view of each service: its instances (members) in declared order, the balancer the
// topology asks for (active redundancy names a policy; anything else is round-robin), and the member
// states. Two sources move a state:
// - passive outlier detection: a member that refuses connections or times out is ejected at once,
//   one that answers 5xx `ejectAfter5xx` times in a row too; an ejected member is probed
//   (GET /health) with backoff and re-admitted on the first 200;
// - the monitor's feed (setState): down, syncing, healthy. A member the monitor calls down is not
//   probed: it waits for the monitor to see it up again.
import { Pool as HttpPool } from 'undici';
import type { BalancePolicy, Topology } from '../topology/types.ts';
import type { Balancer, Member, MemberState } from './balancers/balancer.ts';
import { leastOutstanding } from './balancers/least-outstanding.ts';
import { primaryBackup } from './balancers/primary-backup.ts';
import { roundRobin } from './balancers/round-robin.ts';
import type { Outcome } from './proxy.ts';

export interface OutlierOptions {
  ejectAfter5xx: number;
  probeBaseMs: number;
  probeMaxMs: number;
  probeTimeoutMs: number;
}

export const OUTLIER_DEFAULTS: OutlierOptions = Object.freeze({
  ejectAfter5xx: 3,
  probeBaseMs: 250,
  probeMaxMs: 10_000,
  probeTimeoutMs: 1_000,
});

/** A member as the admin port shows it. */
export interface MemberView {
  name: string;
  origin: string;
  state: MemberState;
  /** Why it is in that state. */
  reason: string;
  /** Since when (ISO time). */
  since: string;
  outstanding: number;
}

export interface PoolView {
  service: string;
  policy: BalancePolicy;
  members: MemberView[];
}

export interface ServicePool {
  service: string;
  policy: BalancePolicy;
  members: readonly Member[];
  select(exclude?: ReadonlySet<string>): Member | undefined;
  /** Feeds an attempt's outcome to passive outlier detection. */
  record(member: Member, outcome: Outcome): void;
  /** Resolves once some member is healthy (at once if one is); rejects when `signal` aborts. */
  available(signal?: AbortSignal): Promise<void>;
  view(): PoolView;
}

/** What the monitor may set; `ejected` belongs to passive detection. */
export type FedState = Exclude<MemberState, 'ejected'>;

export interface Pools {
  get(service: string): ServicePool | undefined;
  all(): ServicePool[];
  /** The monitor's feed: false when no pool has a member of that name. */
  setState(instance: string, state: FedState, reason: string): boolean;
  close(): void;
}

export type ChangeListener = (service: string, member: Member, previous: MemberState, reason: string) => void;

/** Is the instance at `origin` ready? The default asks GET /health; gRPC services need their own. */
export type HealthProbe = (service: string, origin: string, timeoutMs: number) => Promise<boolean>;

function balancer(policy: BalancePolicy): Balancer {
  if (policy === 'primary-backup') return primaryBackup;
  if (policy === 'least-outstanding') return leastOutstanding;
  return roundRobin();
}

interface Tracked extends Member {
  service: string;
  consecutive5xx: number;
  reason: string;
  since: number;
}

/**
 * One pool per service that has instances; `placement` maps a service to its instance URLs in order,
 * `spares` to its passive spares' URLs: they join the pool after the instances, `down` until the
 * monitor reports them up (a cold spare is not even running yet).
 */
export function createPools(
  topology: Topology,
  placement: Record<string, string[]>,
  outlier: OutlierOptions = OUTLIER_DEFAULTS,
  onChange: ChangeListener = () => {},
  spares: Record<string, string[]> = {},
  probe: HealthProbe = httpHealthy,
): Pools {
  const pools = new Map<string, ServicePool>();
  const byName = new Map<string, Tracked>();
  const waiters = new Map<string, Set<() => void>>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  function move(member: Tracked, state: MemberState, reason: string) {
    const previous = member.state;
    if (previous === state) return;
    member.state = state;
    member.reason = reason;
    member.since = Date.now();
    if (state === 'healthy') {
      member.consecutive5xx = 0;
      for (const wake of waiters.get(member.service) ?? []) wake();
    }
    onChange(member.service, member, previous, reason);
  }

  function eject(member: Tracked, reason: string) {
    if (member.state !== 'healthy') return;
    move(member, 'ejected', reason);
    scheduleProbe(member, outlier.probeBaseMs);
  }

  function scheduleProbe(member: Tracked, delayMs: number) {
    const timer = setTimeout(async function probeEjected() {
      timers.delete(timer);
      if (closed || member.state !== 'ejected') return;
      if (await probe(member.service, member.origin, outlier.probeTimeoutMs)) {
        if (!closed && member.state === 'ejected') move(member, 'healthy', 'probe succeeded');
      } else scheduleProbe(member, Math.min(outlier.probeMaxMs, delayMs * 2));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  }

  for (const [service, origins] of Object.entries(placement)) {
    const spec = topology.services.find((s) => s.name === service);
    // A passive spare only ever takes the traffic its primary cannot: primary-backup by nature.
    const policy =
      spec?.redundancy.type === 'active'
        ? spec.redundancy.policy
        : spec?.redundancy.type === 'passive'
          ? 'primary-backup'
          : 'round-robin';
    const select = balancer(policy);
    const member = (name: string, origin: string, state: MemberState, reason: string): Tracked => ({
      name,
      service,
      origin,
      state,
      outstanding: 0,
      consecutive5xx: 0,
      reason,
      since: Date.now(),
    });
    const members: Tracked[] = [
      ...origins.map((origin, i) => member(`${service}-${i + 1}`, origin, 'healthy', 'declared')),
      ...(spares[service] ?? []).map((origin, i) =>
        member(`${service}-spare-${i + 1}`, origin, 'down', 'passive spare, until the monitor reports it up'),
      ),
    ];
    for (const member of members) byName.set(member.name, member);
    waiters.set(service, new Set());
    pools.set(service, {
      service,
      policy,
      members,
      select: (exclude) => select(members, exclude),
      record(member, outcome) {
        const tracked = member as Tracked;
        const status = 'failure' in outcome ? (outcome.failure === 'status' ? 500 : undefined) : outcome.status;
        if (status !== undefined) {
          tracked.consecutive5xx = status >= 500 ? tracked.consecutive5xx + 1 : 0;
          if (tracked.consecutive5xx >= outlier.ejectAfter5xx)
            eject(tracked, `${tracked.consecutive5xx} × 5xx in a row`);
          return;
        }
        const failure = (outcome as { failure: string }).failure;
        eject(tracked, failure === 'timeout' ? 'timed out' : `connection ${failure}`);
      },
      available(signal) {
        if (members.some((m) => m.state === 'healthy')) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          const set = waiters.get(service)!;
          const wake = () => {
            set.delete(wake);
            signal?.removeEventListener('abort', stop);
            resolve();
          };
          const stop = () => {
            set.delete(wake);
            reject(signal?.reason);
          };
          if (signal?.aborted) return stop();
          signal?.addEventListener('abort', stop, { once: true });
          set.add(wake);
        });
      },
      view: () => ({
        service,
        policy,
        members: members.map((m) => ({
          name: m.name,
          origin: m.origin,
          state: m.state,
          reason: m.reason,
          since: new Date(m.since).toISOString(),
          outstanding: m.outstanding,
        })),
      }),
    });
  }
  return {
    get: (service) => pools.get(service),
    all: () => [...pools.values()],
    setState(instance, state, reason) {
      const member = byName.get(instance);
      if (member === undefined) return false;
      move(member, state, reason);
      return true;
    },
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

/** The default probe: GET /health answers 200 (ready). */
export async function httpHealthy(_service: string, origin: string, timeoutMs: number): Promise<boolean> {
  const client = new HttpPool(origin, { connections: 1 });
  try {
    const res = await client.request({ path: '/health', method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  } finally {
    void client.close();
  }
}
