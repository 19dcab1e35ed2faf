// The ping-echo decision for one instance, as a pure state machine: echo outcomes go in (in the
// order their pings were sent, with the time of the decision passed in), transitions come out.
//
// Rules:
// - The state starts `unknown`.
// - `miss` (no answer, refused, timeout, unexpected status): after `failureThreshold` consecutive
//   misses the state becomes `down` (from unknown, up or syncing). The transition carries the send
//   time of the first of those misses and the detection time (decision time − that send time).
// - `ready` (200): after `successThreshold` consecutive ready answers the state becomes `up` (from
//   unknown, down or syncing). From `unknown` the same threshold applies: one lucky answer from an
//   instance still starting is not enough to send it traffic, and a monitor restart must not flap
//   an instance to up on less evidence than a recovery needs.
// - `not-ready` (503 with ready: false): the instance is alive but catching up, so the state becomes
//   `syncing` at once, from any other state; no threshold, since an answer is never a false alarm
//   about liveness and traffic must stop going to a replica that is behind.
// - Any answer resets the miss run; a miss or a not-ready answer resets the ready run.
import type { InstanceHealth, Transition } from './types.ts';

export type EchoKind = 'ready' | 'not-ready' | 'miss';

/** One ping's outcome. */
export interface Echo {
  kind: EchoKind;
  /** When the ping was sent, ms since the epoch. */
  sentAt: number;
  /** In words: "200 ready", "503 not ready", "timeout after 50 ms", "ECONNREFUSED". */
  reason: string;
}

export interface DetectorSettings {
  failureThreshold: number;
  successThreshold: number;
}

export interface Detector {
  readonly state: InstanceHealth;
  /** When the current state began, ms since the epoch (the detector's creation for `unknown`). */
  readonly since: number;
  /** Feeds the next outcome, decided at `now` (ms since the epoch); the transition it caused, if any. */
  observe(echo: Echo, now: number): Transition | undefined;
}

export function createDetector(
  identity: { instance: string; service: string },
  settings: DetectorSettings,
  createdAt: number,
): Detector {
  checkThreshold('failureThreshold', settings.failureThreshold);
  checkThreshold('successThreshold', settings.successThreshold);
  const { failureThreshold, successThreshold } = settings;
  let state: InstanceHealth = 'unknown';
  let since = createdAt;
  let misses = 0;
  let firstMissAt = 0;
  let readies = 0;
  let notReadies = 0;

  function move(to: InstanceHealth, now: number, count: number, reason: string, missedFrom?: number): Transition {
    const transition: Transition = {
      instance: identity.instance,
      service: identity.service,
      from: state,
      to,
      time: new Date(now).toISOString(),
      firstMissAt: missedFrom === undefined ? null : new Date(missedFrom).toISOString(),
      detectionMs: missedFrom === undefined ? null : now - missedFrom,
      count,
      reason,
    };
    state = to;
    since = now;
    return transition;
  }

  return {
    get state() {
      return state;
    },
    get since() {
      return since;
    },
    observe(echo, now) {
      if (echo.kind === 'miss') {
        readies = 0;
        notReadies = 0;
        if (misses === 0) firstMissAt = echo.sentAt;
        misses++;
        if (state !== 'down' && misses >= failureThreshold) return move('down', now, misses, echo.reason, firstMissAt);
        return undefined;
      }
      misses = 0;
      if (echo.kind === 'not-ready') {
        readies = 0;
        notReadies++;
        if (state !== 'syncing') return move('syncing', now, notReadies, echo.reason);
        return undefined;
      }
      notReadies = 0;
      readies++;
      if (state !== 'up' && readies >= successThreshold) return move('up', now, readies, echo.reason);
      return undefined;
    },
  };
}

function checkThreshold(name: string, value: number) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, not ${value}`);
}
