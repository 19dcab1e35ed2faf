// Settings of the orders programs (command side sweeper, worker), from ARCHLAB_ORDERS_* environment
// variables over the defaults below: a topology sets them per service with `env:`. Validated once,
// every problem reported together, frozen.
import { AppError, KitErrors } from '../../kit/errors.ts';

export interface OrdersConfig {
  /** Jobs the worker runs at once. */
  concurrency: number;
  /** Attempts of one job before it goes dead (the sweeper requeues it while its order is processing). */
  attempts: number;
  /** A worker that dies holding a job loses it after this long; the job is then redelivered. */
  leaseMs: number;
  /** First retry delay of a failed attempt (doubled each attempt, capped at retryCapMs). */
  retryBaseMs: number;
  retryCapMs: number;
  /** Longest wait for one instance of products-commands / orders-commands before trying the next. */
  tryTimeoutMs: number;
  /** Longest time one call may take across all instances of the service it calls. */
  deadlineMs: number;
  /** How often orders-commands requeues dead jobs of orders still processing. */
  sweepIntervalMs: number;
}

export const ORDERS_DEFAULTS: Readonly<OrdersConfig> = Object.freeze({
  concurrency: 8,
  attempts: 5,
  // Every call is bounded by deadlineMs, so a live worker renews well within this; a dead one's jobs
  // come back after 10 s.
  leaseMs: 10_000,
  retryBaseMs: 200,
  retryCapMs: 5_000,
  tryTimeoutMs: 2_000,
  deadlineMs: 5_000,
  sweepIntervalMs: 5_000,
});

const ENV: Record<keyof OrdersConfig, string> = {
  concurrency: 'ARCHLAB_ORDERS_CONCURRENCY',
  attempts: 'ARCHLAB_ORDERS_ATTEMPTS',
  leaseMs: 'ARCHLAB_ORDERS_LEASE_MS',
  retryBaseMs: 'ARCHLAB_ORDERS_RETRY_BASE_MS',
  retryCapMs: 'ARCHLAB_ORDERS_RETRY_CAP_MS',
  tryTimeoutMs: 'ARCHLAB_ORDERS_TRY_TIMEOUT_MS',
  deadlineMs: 'ARCHLAB_ORDERS_DEADLINE_MS',
  sweepIntervalMs: 'ARCHLAB_ORDERS_SWEEP_INTERVAL_MS',
};

export function ordersConfig(env: Record<string, string | undefined> = process.env): Readonly<OrdersConfig> {
  const config: OrdersConfig = { ...ORDERS_DEFAULTS };
  const problems: string[] = [];
  for (const field of Object.keys(ENV) as (keyof OrdersConfig)[]) {
    const raw = env[ENV[field]];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 1)
      problems.push(`${ENV[field]}: must be a positive integer (got "${raw}")`);
    else config[field] = value;
  }
  if (config.retryCapMs < config.retryBaseMs) {
    problems.push(`${ENV.retryCapMs}: must be at least ${ENV.retryBaseMs} (${config.retryBaseMs})`);
  }
  if (config.tryTimeoutMs > config.deadlineMs) {
    problems.push(`${ENV.tryTimeoutMs}: must be at most ${ENV.deadlineMs} (${config.deadlineMs})`);
  }
  if (problems.length > 0) {
    throw new AppError(400, KitErrors.CONFIG_INVALID, `orders settings:\n${problems.join('\n')}`, {
      details: { problems },
    });
  }
  return Object.freeze(config);
}
