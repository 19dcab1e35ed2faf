// Retry budget: retries may add at most `ratio` of the live request rate (plus a small floor so a
// quiet service can still retry), counted over a sliding window. When a service is down, every
// request fails and wants a retry; the budget keeps that from multiplying the load on it.
// Pure: time is an argument, so tests need no clock.

export interface RetryBudgetOptions {
  /** Retries allowed per request in the window (0.2 = 20 %). */
  ratio: number;
  /** Retries always allowed per window, whatever the request count. */
  minRetries: number;
  windowMs: number;
}

export const RETRY_BUDGET_DEFAULTS: RetryBudgetOptions = Object.freeze({
  ratio: 0.2,
  minRetries: 10,
  windowMs: 10_000,
});

const BUCKETS = 10;

export interface RetryBudget {
  /** Counts a first attempt (a request as the client sent it). */
  recordRequest(now: number): void;
  /** Takes one retry from the budget; false when it is spent (the caller counts the refusal). */
  tryRetry(now: number): boolean;
}

export function createRetryBudget(options: RetryBudgetOptions = RETRY_BUDGET_DEFAULTS): RetryBudget {
  const bucketMs = options.windowMs / BUCKETS;
  const requests = new Array<number>(BUCKETS).fill(0);
  const retries = new Array<number>(BUCKETS).fill(0);
  let current = 0; // index of the newest bucket
  let currentStart = Number.NEGATIVE_INFINITY;

  // Moves the window forward to `now`, zeroing buckets that fell out of it.
  function advance(now: number) {
    if (currentStart === Number.NEGATIVE_INFINITY) {
      currentStart = now;
      return;
    }
    const steps = Math.floor((now - currentStart) / bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      current = (current + 1) % BUCKETS;
      requests[current] = 0;
      retries[current] = 0;
    }
    currentStart += steps * bucketMs;
  }

  const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);

  return {
    recordRequest(now) {
      advance(now);
      requests[current]! += 1;
    },
    tryRetry(now) {
      advance(now);
      const allowed = Math.max(options.minRetries, Math.floor(options.ratio * sum(requests)));
      if (sum(retries) >= allowed) return false;
      retries[current]! += 1;
      return true;
    },
  };
}
