// When to restart a process that exited: exponential backoff on consecutive failures, forgotten once
// the process has stayed up for a while (a crash loop slows down, a rare crash restarts at once).
export interface RestartPolicy {
  baseMs: number;
  maxMs: number;
  /** A run this long counts as healthy and resets the failure count. */
  stableMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = Object.freeze({ baseMs: 100, maxMs: 5_000, stableMs: 10_000 });

/** Failures in a row after a run of `uptimeMs` that ended, given `failures` before it. */
export function failuresAfterExit(failures: number, uptimeMs: number, policy: RestartPolicy = DEFAULT_RESTART): number {
  return uptimeMs >= policy.stableMs ? 1 : failures + 1;
}

/** Delay before the restart that follows the `failures`-th consecutive failure (1-based). */
export function restartDelayMs(failures: number, policy: RestartPolicy = DEFAULT_RESTART): number {
  if (failures <= 1) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (failures - 2));
}
