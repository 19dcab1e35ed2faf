// The gateway's view of each service: its instances (members) in declared order and the balancer the
// topology asks for (active redundancy names a policy; anything else is round-robin). Member states
// start healthy; the monitor's feed and passive outlier detection will move them.
import type { BalancePolicy, Topology } from '../topology/types.ts';
import type { Balancer, Member } from './balancers/balancer.ts';
import { leastOutstanding } from './balancers/least-outstanding.ts';
import { primaryBackup } from './balancers/primary-backup.ts';
import { roundRobin } from './balancers/round-robin.ts';

export interface ServicePool {
  service: string;
  members: Member[];
  select(exclude?: ReadonlySet<string>): Member | undefined;
}

function balancer(policy: BalancePolicy): Balancer {
  if (policy === 'primary-backup') return primaryBackup;
  if (policy === 'least-outstanding') return leastOutstanding;
  return roundRobin();
}

/** One pool per service that has instances; `placement` maps a service to its instance URLs in order. */
export function createPools(topology: Topology, placement: Record<string, string[]>): Map<string, ServicePool> {
  const pools = new Map<string, ServicePool>();
  for (const [service, origins] of Object.entries(placement)) {
    const spec = topology.services.find((s) => s.name === service);
    const select = balancer(spec?.redundancy.type === 'active' ? spec.redundancy.policy : 'round-robin');
    const members: Member[] = origins.map((origin, i) => ({
      name: `${service}-${i + 1}`,
      origin,
      state: 'healthy',
      outstanding: 0,
    }));
    pools.set(service, { service, members, select: (exclude) => select(members, exclude) });
  }
  return pools;
}
