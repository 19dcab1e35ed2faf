// The monitor's feed into the gateway's pools: its snapshot (on every (re)connection) and each
// transition set member states — up → healthy, syncing → syncing, down → down; unknown changes
// nothing. When the monitor is gone, passive outlier detection keeps working alone, and the next
// snapshot resyncs the view.
import type { Logger } from '../kit/logger.ts';
import { followMonitor } from '../monitor/feed.ts';
import type { InstanceHealth } from '../monitor/types.ts';
import type { FedState, Pools } from './pool.ts';

const FED: Record<InstanceHealth, FedState | undefined> = {
  up: 'healthy',
  syncing: 'syncing',
  down: 'down',
  unknown: undefined,
};

export function feedPoolsFromMonitor(pools: Pools, monitorUrl: string, log: Logger): { close(): void } {
  const apply = (instance: string, health: InstanceHealth, reason: string) => {
    const state = FED[health];
    if (state !== undefined) pools.setState(instance, state, reason);
  };
  return followMonitor(
    monitorUrl,
    {
      snapshot(snapshot) {
        for (const view of snapshot.instances) apply(view.instance, view.state, `monitor: ${view.state} (snapshot)`);
      },
      transition(transition) {
        apply(
          transition.instance,
          transition.to,
          `monitor: ${transition.from} → ${transition.to}, ${transition.reason}`,
        );
      },
      disconnected(error) {
        log.warn({ err: error }, 'monitor feed lost; passive detection only until it is back');
      },
    },
    { log },
  );
}
