// The monitor's contract with the rest of the system: instance states, the transition events it
// publishes (bus stream `monitor.events`, a JSON-lines file, and its server-sent event feed), and the
// feed's wire format.
//
// Feed: GET <monitor>/events answers `text/event-stream`. The first message is always
//   event: snapshot      data: MonitorSnapshot (every instance's current state)
// then, for every transition,
//   event: transition    data: Transition
// and a comment line (`: ping`) every few seconds so a dead connection shows. A client that
// reconnects gets a fresh snapshot first: that is how the gateway and the supervisor resync their
// view after the monitor (or they) restarted.
export const MONITOR_STREAM = 'monitor.events';

/** unknown until the first decision; up: answers ready; syncing: answers, not ready; down: misses. */
export type InstanceHealth = 'unknown' | 'up' | 'syncing' | 'down';

export interface Transition {
  instance: string;
  service: string;
  from: InstanceHealth;
  to: InstanceHealth;
  /** When the monitor decided (ISO 8601). */
  time: string;
  /** For `down`: when the first of the consecutive missed echoes was sent (ISO 8601); else null. */
  firstMissAt: string | null;
  /** For `down`: time − firstMissAt in ms (the detection time the monitor can see); else null. */
  detectionMs: number | null;
  /** Consecutive misses (for down) or answers (for up/syncing) behind the decision. */
  count: number;
  /** The last echo's outcome in words: "timeout after 50 ms", "ECONNREFUSED", "503 not ready", "200 ready". */
  reason: string;
}

export interface InstanceView {
  instance: string;
  service: string;
  url: string;
  state: InstanceHealth;
  /** When it entered that state (ISO 8601). */
  since: string;
}

export interface MonitorSnapshot {
  instances: InstanceView[];
}
