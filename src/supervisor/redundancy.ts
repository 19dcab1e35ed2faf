// Passive redundancy, as decisions: what the supervisor does when the monitor reports a transition
// of an instance of a service declared `redundancy: { passive: { spares, mode } }`. Pure: the caller
// passes the view and carries out the actions.
//   primary DOWN  → a hung primary (process alive, not answering) is killed, so the restart loop
//                   brings it back; a cold spare is started (a warm one already runs and takes
//                   traffic as soon as the gateway sees the primary down).
//   every primary UP again (UP means ready: caught up) → cold spares that run are stopped; the
//                   gateway has failed back on the same UP.
import type { InstanceHealth, Transition } from '../monitor/types.ts';
import type { ServiceSpec } from '../topology/types.ts';
import type { InstanceState } from './run-file.ts';

export interface RedundancyView {
  service: ServiceSpec;
  primaries: readonly string[];
  spares: readonly string[];
  state(instance: string): InstanceState | undefined;
  health(instance: string): InstanceHealth | null | undefined;
}

export type RedundancyAction =
  | { type: 'kill'; instance: string; reason: string }
  | { type: 'start'; instance: string; reason: string }
  | { type: 'stop'; instance: string; reason: string };

const ALIVE: ReadonlySet<InstanceState> = new Set(['running', 'hung', 'starting']);
const IDLE: ReadonlySet<InstanceState> = new Set(['standby', 'stopped']);

/** The actions a transition calls for; `view.health` must already include the transition. */
export function passiveActions(transition: Transition, view: RedundancyView): RedundancyAction[] {
  const { redundancy } = view.service;
  if (redundancy.type !== 'passive' || !view.primaries.includes(transition.instance)) return [];
  const actions: RedundancyAction[] = [];
  if (transition.to === 'down') {
    const state = view.state(transition.instance);
    if (state === 'running' || state === 'hung') {
      actions.push({
        type: 'kill',
        instance: transition.instance,
        reason: `${transition.instance} is down but alive (hung)`,
      });
    }
    const running = view.spares.some((spare) => ALIVE.has(view.state(spare) ?? 'stopped'));
    const idle = view.spares.find((spare) => IDLE.has(view.state(spare) ?? 'failed'));
    if (redundancy.mode === 'cold' && !running && idle !== undefined) {
      actions.push({ type: 'start', instance: idle, reason: `${transition.instance} is down` });
    }
  }
  if (transition.to === 'up' && redundancy.mode === 'cold' && view.primaries.every((p) => view.health(p) === 'up')) {
    for (const spare of view.spares) {
      if (ALIVE.has(view.state(spare) ?? 'stopped')) {
        actions.push({ type: 'stop', instance: spare, reason: `${transition.instance} is up and caught up again` });
      }
    }
  }
  return actions;
}
