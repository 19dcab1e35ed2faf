// Settings of both registration programs, read once from the environment (a topology sets them per
// service with `env:`), checked together and frozen. Every value is a whole number of milliseconds or
// a count; the name says which.
import { AppError, KitErrors } from '../../kit/errors.ts';

export interface RegistrationConfig {
  /** Lease on a registration job: how long after a worker's death its job moves on. */
  leaseMs: number;
  /** Jobs each registrar consumer runs at once. */
  concurrency: number;
  /** How long a job waits in the failure log before its first replay. */
  replayDelayMs: number;
  /** Replays of one job before it goes to the replay queue's dead letters (requeue-able). */
  replayAttempts: number;
  /** Backoff between replays: min(capMs, baseMs * 2^(n-1)), ±20 % jitter. */
  replayBackoffBaseMs: number;
  replayBackoffCapMs: number;
  /** How long registration-commands waits for the registrar's answer to a status query. */
  queryTimeoutMs: number;
}

// Lease: 10 s rather than the bus's 30 s so a killed worker's job moves on soon, still far above a
// registration's few milliseconds. Replay: 12 attempts from 1 s doubling to a 60 s cap ≈ 8 minutes of
// retries after the first replay, enough to ride out a store restart.
export const REGISTRATION_DEFAULTS: Readonly<RegistrationConfig> = Object.freeze({
  leaseMs: 10_000,
  concurrency: 4,
  replayDelayMs: 5_000,
  replayAttempts: 12,
  replayBackoffBaseMs: 1_000,
  replayBackoffCapMs: 60_000,
  queryTimeoutMs: 2_000,
});

const ENV: Record<keyof RegistrationConfig, { name: string; min: number }> = {
  leaseMs: { name: 'REGISTRATION_LEASE_MS', min: 100 },
  concurrency: { name: 'REGISTRATION_CONCURRENCY', min: 1 },
  replayDelayMs: { name: 'REGISTRATION_REPLAY_DELAY_MS', min: 0 },
  replayAttempts: { name: 'REGISTRATION_REPLAY_ATTEMPTS', min: 1 },
  replayBackoffBaseMs: { name: 'REGISTRATION_REPLAY_BACKOFF_BASE_MS', min: 0 },
  replayBackoffCapMs: { name: 'REGISTRATION_REPLAY_BACKOFF_CAP_MS', min: 0 },
  queryTimeoutMs: { name: 'REGISTRATION_QUERY_TIMEOUT_MS', min: 1 },
};

/** The defaults overridden by the REGISTRATION_* variables of `env`; every problem reported at once. */
export function loadRegistrationConfig(env: Record<string, string | undefined>): Readonly<RegistrationConfig> {
  const config: RegistrationConfig = { ...REGISTRATION_DEFAULTS };
  const problems: string[] = [];
  for (const [field, { name, min }] of Object.entries(ENV) as [
    keyof RegistrationConfig,
    { name: string; min: number },
  ][]) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const value = /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!(value >= min)) problems.push(`${name}: must be an integer >= ${min} (got "${raw}")`);
    else config[field] = value;
  }
  if (config.replayBackoffCapMs < config.replayBackoffBaseMs) {
    problems.push(
      `${ENV.replayBackoffCapMs.name}: must be >= ${ENV.replayBackoffBaseMs.name} (${config.replayBackoffCapMs} < ${config.replayBackoffBaseMs})`,
    );
  }
  if (problems.length > 0) {
    throw new AppError(400, KitErrors.CONFIG_INVALID, `registration settings are wrong:\n${problems.join('\n')}`, {
      details: { problems },
    });
  }
  return Object.freeze(config);
}
