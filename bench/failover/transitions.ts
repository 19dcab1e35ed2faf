// The monitor's transitions as they happen, from its server-sent event feed (followMonitor, the same
// client the gateway and the supervisor use), each stamped with when this process received it.
import { createLogger } from '../../src/kit/logger.ts';
import { followMonitor } from '../../src/monitor/feed.ts';
import type { InstanceHealth, Transition } from '../../src/monitor/types.ts';

const CONNECT_TIMEOUT_MS = 10_000;

export interface Seen {
  transition: Transition;
  /** Date.now() when the feed delivered it. */
  receivedAt: number;
}

export interface Transitions {
  /** Everything received so far, in order. */
  readonly seen: readonly Seen[];
  /** The monitor's current view of an instance (snapshot, then transitions). */
  state(instance: string): InstanceHealth | undefined;
  /** The first transition at index ≥ `from` matching `match`; waits up to `timeoutMs` for it. */
  next(from: number, match: (t: Transition) => boolean, timeoutMs: number, what: string): Promise<Seen>;
  /** Feed outages (lost connections); a transition may have been missed during one. */
  readonly outages: number;
  close(): void;
}

export async function followTransitions(monitorUrl: string): Promise<Transitions> {
  const seen: Seen[] = [];
  const states = new Map<string, InstanceHealth>();
  const wakers = new Set<() => void>();
  let outages = 0;
  let connected!: () => void;
  const firstSnapshot = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const feed = followMonitor(
    monitorUrl,
    {
      snapshot(snapshot) {
        for (const view of snapshot.instances) states.set(view.instance, view.state);
        connected();
      },
      transition(transition) {
        seen.push({ transition, receivedAt: Date.now() });
        states.set(transition.instance, transition.to);
        for (const wake of wakers) wake();
      },
      disconnected() {
        outages++;
      },
    },
    { log: createLogger({ level: 'silent' }) },
  );
  const giveUp = setTimeout(() => connected(), CONNECT_TIMEOUT_MS);
  await firstSnapshot;
  clearTimeout(giveUp);
  if (states.size === 0) {
    feed.close();
    throw new Error(`no snapshot from the monitor feed at ${monitorUrl} within ${CONNECT_TIMEOUT_MS} ms`);
  }

  return {
    seen,
    state: (instance) => states.get(instance),
    get outages() {
      return outages;
    },
    next(from, match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        let deadline: NodeJS.Timeout | undefined;
        const look = () => {
          for (let i = from; i < seen.length; i++) {
            if (match(seen[i]!.transition)) {
              wakers.delete(look);
              clearTimeout(deadline);
              resolve(seen[i]!);
              return;
            }
          }
        };
        deadline = setTimeout(() => {
          wakers.delete(look);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for the monitor: ${what}`));
        }, timeoutMs);
        wakers.add(look);
        look();
      });
    },
    close: () => feed.close(),
  };
}
