// Seed 000's redundancy chain as data: which queue each component consumes, where a failed job goes
// next, and the pure decisions the registrar makes at each stage.
//
//   registration.principal ─fail→ registration.redundancy1 ─fail→ registration.redundancy2 ─fail→
//   registration.failures (the failure log) ─scheduled→ registration.replay (retried with backoff)
//
// Every stage has one attempt: the chain itself is the retry policy the seed designed (a second
// attempt in the same queue would hide what its flags ask for). A stage fails when its simulate flag
// is set (once per failure key, see failureKey) or on a real error; a worker that dies mid-job fails
// that stage too (the bus moves the job on once the lease expires). The replay stage ignores the flags.
import { createHash } from 'node:crypto';
import type { FailureFlags } from './flags.ts';

export type ChainStage = keyof FailureFlags;
/** Who registered an email: a chain stage, or the replay of the failure log. */
export type Component = ChainStage | 'failure-replay';

export const Queues = {
  PRINCIPAL: 'registration.principal',
  REDUNDANCY1: 'registration.redundancy1',
  REDUNDANCY2: 'registration.redundancy2',
  FAILURES: 'registration.failures',
  REPLAY: 'registration.replay',
  /** Status lookups (request/reply, see request-reply.ts). */
  QUERIES: 'registration.queries',
} as const;

export const CHAIN: readonly { stage: ChainStage; queue: string; next: string }[] = [
  { stage: 'principal', queue: Queues.PRINCIPAL, next: Queues.REDUNDANCY1 },
  { stage: 'redundancy1', queue: Queues.REDUNDANCY1, next: Queues.REDUNDANCY2 },
  { stage: 'redundancy2', queue: Queues.REDUNDANCY2, next: Queues.FAILURES },
];

/** What the registrar keeps in each registration job. */
export interface RegistrationJob {
  email: string;
  flags: FailureFlags;
  failureUuid: string | null;
  /** When registration-commands accepted it (ms since the epoch). */
  receivedAt: number;
}

export function isRegistrationJob(payload: unknown): payload is RegistrationJob {
  const job = payload as RegistrationJob | null;
  return (
    typeof job === 'object' &&
    job !== null &&
    typeof job.email === 'string' &&
    typeof job.receivedAt === 'number' &&
    (job.failureUuid === null || typeof job.failureUuid === 'string') &&
    typeof job.flags === 'object' &&
    job.flags !== null &&
    CHAIN.every(({ stage }) => typeof job.flags[stage] === 'boolean')
  );
}

/**
 * The job id, i.e. the bus's idempotency key: the same email (case-insensitive) with the same
 * failure_uuid (or none) is the same registration, so a client's retry enqueues nothing new. Another
 * failure_uuid makes another job; the registrar's unique email still registers the address once.
 */
export function registrationJobId(emailKey: string, failureUuid: string | null): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([emailKey, failureUuid]))
    .digest('hex');
  return `reg-${digest.slice(0, 32)}`;
}

/** Simulated failures fire once per (failure key, stage): the seed's failure_uuid, else the job id. */
export const failureKey = (jobId: string, failureUuid: string | null) =>
  failureUuid === null ? `job:${jobId}` : `uuid:${failureUuid}`;

/** The component that registers a job with these flags when nothing else fails. */
export function expectedRegistrar(flags: FailureFlags): Component {
  return CHAIN.find(({ stage }) => !flags[stage])?.stage ?? 'failure-replay';
}
