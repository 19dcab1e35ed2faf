// Retry timing shared by every work-queue backend, pure so it is tested without a broker.
import type { ConsumeOptions } from './bus.ts';

export const QUEUE_DEFAULTS = Object.freeze({
  concurrency: 1,
  attempts: 3,
  backoff: Object.freeze({ baseMs: 200, capMs: 30_000, jitter: 0.2 }),
  leaseMs: 30_000,
});

export interface ResolvedConsumeOptions {
  concurrency: number;
  attempts: number;
  backoff: { baseMs: number; capMs: number; jitter: number };
  next: string | undefined;
  leaseMs: number;
}

/** Defaults applied and checked once, so backends never re-validate. */
export function resolveConsumeOptions(options: ConsumeOptions = {}): ResolvedConsumeOptions {
  const resolved = {
    concurrency: options.concurrency ?? QUEUE_DEFAULTS.concurrency,
    attempts: options.attempts ?? QUEUE_DEFAULTS.attempts,
    backoff: { ...QUEUE_DEFAULTS.backoff, ...options.backoff },
    next: options.next,
    leaseMs: options.leaseMs ?? QUEUE_DEFAULTS.leaseMs,
  };
  const positive = { concurrency: resolved.concurrency, attempts: resolved.attempts, leaseMs: resolved.leaseMs };
  for (const [name, value] of Object.entries(positive)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, not ${value}`);
  }
  const { baseMs, capMs, jitter } = resolved.backoff;
  if (!(baseMs >= 0 && capMs >= baseMs && jitter >= 0 && jitter <= 1)) {
    throw new RangeError('backoff needs 0 <= baseMs <= capMs and 0 <= jitter <= 1');
  }
  return resolved;
}

/**
 * Delay before retrying after the `attempt`-th attempt failed (1-based): baseMs·2^(attempt-1), capped,
 * then spread by ±jitter so a burst of failures does not retry in lockstep. `random` is in [0, 1).
 */
export function retryDelayMs(
  attempt: number,
  backoff: { baseMs: number; capMs: number; jitter: number },
  random: number = Math.random(),
): number {
  const exact = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(exact * (1 + backoff.jitter * (2 * random - 1))));
}
