// The gateway's view of each service: its instances (members) in declared order, the balancer the
// topology asks for (active redundancy names a policy; anything else is round-robin), and passive
// outlier detection: a member that refuses connections or times out is ejected at once, one that
// answers 5xx `ejectAfter5xx` times in a row too; an ejected member is probed (GET /health) with
// backoff and re-admitted on the first success. The monitor's feed will move states as well.
import { Pool as HttpPool } from 'undici';
import type { BalancePolicy, Topology } from '../topology/types.ts';
import type { Balancer, Member } from './balancers/balancer.ts';
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

export interface ServicePool {
  service: string;
  members: Member[];
  select(exclude?: ReadonlySet<string>): Member | undefined;
  /** Feeds an attempt's outcome to passive outlier detection. */
  record(member: Member, outcome: Outcome): void;
}

export interface Pools {
  get(service: string): ServicePool | undefined;
  close(): void;
}

function balancer(policy: BalancePolicy): Balancer {
  if (policy === 'primary-backup') return primaryBackup;
  if (policy === 'least-outstanding') return leastOutstanding;
  return roundRobin();
}

/** One pool per service that has instances; `placement` maps a service to its instance URLs in order. */
export function createPools(
  topology: Topology,
  placement: Record<string, string[]>,
  outlier: OutlierOptions = OUTLIER_DEFAULTS,
  onChange: (member: Member, reason: string) => void = () => {},
): Pools {
  const pools = new Map<string, ServicePool>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  function eject(member: Member & Tracked, reason: string) {
    if (member.state !== 'healthy') return;
    member.state = 'ejected';
    onChange(member, reason);
    scheduleProbe(member, outlier.probeBaseMs);
  }

  function scheduleProbe(member: Member & Tracked, delayMs: number) {
    const timer = setTimeout(async function probeEjected() {
      timers.delete(timer);
      if (closed || member.state !== 'ejected') return;
      if (await healthy(member.origin, outlier.probeTimeoutMs)) {
        member.state = 'healthy';
        member.consecutive5xx = 0;
        onChange(member, 'probe succeeded');
      } else scheduleProbe(member, Math.min(outlier.probeMaxMs, delayMs * 2));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  }

  for (const [service, origins] of Object.entries(placement)) {
    const spec = topology.services.find((s) => s.name === service);
    const select = balancer(spec?.redundancy.type === 'active' ? spec.redundancy.policy : 'round-robin');
    const members: (Member & Tracked)[] = origins.map((origin, i) => ({
      name: `${service}-${i + 1}`,
      origin,
      state: 'healthy',
      outstanding: 0,
      consecutive5xx: 0,
    }));
    pools.set(service, {
      service,
      members,
      select: (exclude) => select(members, exclude),
      record(member, outcome) {
        const tracked = member as Member & Tracked;
        if ('status' in outcome && !('failure' in outcome)) {
          tracked.consecutive5xx = outcome.status >= 500 ? tracked.consecutive5xx + 1 : 0;
          if (tracked.consecutive5xx >= outlier.ejectAfter5xx)
            eject(tracked, `${tracked.consecutive5xx} × 5xx in a row`);
          return;
        }
        if (outcome.failure === 'status') {
          tracked.consecutive5xx += 1;
          if (tracked.consecutive5xx >= outlier.ejectAfter5xx)
            eject(tracked, `${tracked.consecutive5xx} × 5xx in a row`);
          return;
        }
        eject(tracked, outcome.failure === 'timeout' ? 'timed out' : `connection ${outcome.failure}`);
      },
    });
  }
  return {
    get: (service) => pools.get(service),
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

interface Tracked {
  consecutive5xx: number;
}

async function healthy(origin: string, timeoutMs: number): Promise<boolean> {
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
