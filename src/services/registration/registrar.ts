// users-registrar's work: one attempt of one component on one registration job. The attempt, its
// outcome and its events (outbox) commit in ONE store transaction, so the event log never claims a hop
// the store does not hold, and a worker killed mid-attempt leaves neither (the bus moves the job on).
//
// Exactly once: registered_users has one row per email (primary key on the lower-cased address); the
// insert that creates it is the registration, and the `registration.registered` event commits with
// it. A second job for the same email (another failure_uuid) finds the row and records a duplicate.
//
// Simulated failures fire once per (failure key, stage): the row in simulated_failures is the state,
// written in the attempt's transaction; a later job with the same failure_uuid passes that stage.
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Job } from '../../bus/bus.ts';
import type { Logger } from '../../kit/logger.ts';
import { appendToOutbox } from '../../store/outbox.ts';
import type { Queryable, Store } from '../../store/store.ts';
import { emailKey } from '../users/email.ts';
import { type ChainStage, type Component, failureKey, isRegistrationJob, type RegistrationJob } from './chain.ts';
import { REGISTRATION_EVENTS_STREAM, RegistrationEvents } from './events.ts';

export interface RegistrarContext {
  store: Store;
  /** The instance name, recorded with each registration beside the component. */
  instance: string;
  /** Called after a commit so the relay moves the events now rather than at its next poll. */
  committed: () => void;
  log: Logger;
  /** Fault hook: while it returns true for a component, that component's jobs wait, leased, before their attempt. */
  stalled?: (component: Component) => boolean;
}

/** Thrown to fail a stage on purpose (a simulate_failure* flag); the bus moves the job on. */
export class SimulatedFailure extends Error {
  readonly component: ChainStage;

  constructor(component: ChainStage, jobId: string) {
    super(`simulated failure at ${component} (job ${jobId})`);
    this.name = 'SimulatedFailure';
    this.component = component;
  }
}

const STALL_POLL_MS = 50;

type Outcome = 'registered' | 'duplicate' | 'simulated-failure';

/** One chain stage (principal, redundancy1, redundancy2): register, or throw so the job moves on. */
export async function runStage(ctx: RegistrarContext, stage: ChainStage, job: Job): Promise<void> {
  const payload = registrationJob(job);
  await stallWhileAsked(ctx, stage);
  const outcome = await attemptOrRecord(ctx, job, payload, stage);
  if (outcome === 'simulated-failure') throw new SimulatedFailure(stage, job.id);
}

/** The failure log: records the job (with its uuid and the time) and schedules its replay. */
export async function logFailure(
  ctx: RegistrarContext,
  job: Job,
  scheduleReplay: (job: Job) => Promise<void>,
): Promise<void> {
  const payload = registrationJob(job);
  const now = Date.now();
  await ctx.store.transaction(async (tx) => {
    const emit = emitter(tx, job, payload);
    await ensureRequest(tx, job, payload, now, emit);
    const [request] = await tx.query<{ last_error: string | null }>(
      'SELECT last_error FROM registration_requests WHERE job_id = $1',
      [job.id],
    );
    const logged = await tx.execute(
      `INSERT INTO failure_log (job_id, email, failure_uuid, last_error, logged_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (job_id) DO NOTHING`,
      [job.id, payload.email, payload.failureUuid, request?.last_error ?? null, now],
    );
    // A redelivery (this worker died before scheduling) logs nothing twice.
    if (logged.changes === 0) return;
    await tx.execute("UPDATE registration_requests SET state = 'failure-logged', updated_at = $1 WHERE job_id = $2", [
      now,
      job.id,
    ]);
    await emit(RegistrationEvents.FAILURE_LOGGED, {
      loggedAt: new Date(now).toISOString(),
      lastError: request?.last_error ?? null,
      from: job.from,
    });
  });
  ctx.committed();
  // After the commit: a crash in between redelivers this job, and scheduling it again is a no-op.
  await scheduleReplay(job);
}

/** A replay of the failure log: flags ignored; a throw retries it with backoff. */
export async function replayFailure(ctx: RegistrarContext, job: Job): Promise<void> {
  const payload = registrationJob(job);
  await stallWhileAsked(ctx, 'failure-replay');
  await attemptOrRecord(ctx, job, payload, 'failure-replay');
}

/** A worker that dies here has written nothing for this attempt: the experiment "killed mid-job". */
async function stallWhileAsked(ctx: RegistrarContext, component: Component) {
  while (ctx.stalled?.(component)) await delay(STALL_POLL_MS);
}

function registrationJob(job: Job): RegistrationJob {
  if (!isRegistrationJob(job.payload)) throw new Error(`job ${job.id} of ${job.queue} is not a registration job`);
  return job.payload;
}

async function attemptOrRecord(
  ctx: RegistrarContext,
  job: Job,
  payload: RegistrationJob,
  component: Component,
): Promise<Outcome> {
  try {
    return await attempt(ctx, job, payload, component);
  } catch (error) {
    // The attempt rolled back; record the failure on its own (best effort: the store may be what failed).
    await recordError(ctx, job, payload, component, error).catch((recordFailure: unknown) =>
      ctx.log.error({ err: recordFailure, jobId: job.id }, 'could not record a failed registration attempt'),
    );
    throw error;
  }
}

async function attempt(
  ctx: RegistrarContext,
  job: Job,
  payload: RegistrationJob,
  component: Component,
): Promise<Outcome> {
  const now = Date.now();
  const key = emailKey(payload.email);
  const outcome = await ctx.store.transaction(async (tx): Promise<Outcome> => {
    const emit = emitter(tx, job, payload);
    await ensureRequest(tx, job, payload, now, emit);
    const [counted] = await tx.query<{ attempts: number }>(
      'UPDATE registration_requests SET attempts = attempts + 1, updated_at = $1 WHERE job_id = $2 RETURNING attempts',
      [now, job.id],
    );
    const attempts = Number(counted!.attempts);
    await emit(RegistrationEvents.ATTEMPTED, {
      component,
      instance: ctx.instance,
      attempt: attempts,
      queue: job.queue,
      from: job.from,
    });

    const holder = await registeredBy(tx, key);
    if (holder !== undefined) return duplicate(tx, job, holder, now, emit);

    if (component !== 'failure-replay' && payload.flags[component]) {
      const fired = await tx.execute(
        `INSERT INTO simulated_failures (failure_key, stage, job_id, failed_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (failure_key, stage) DO NOTHING`,
        [failureKey(job.id, payload.failureUuid), component, job.id, now],
      );
      if (fired.changes > 0) {
        await tx.execute('UPDATE registration_requests SET last_error = $1, updated_at = $2 WHERE job_id = $3', [
          `simulated failure at ${component}`,
          now,
          job.id,
        ]);
        await emit(RegistrationEvents.FAILED, { component, instance: ctx.instance, reason: 'simulated' });
        return 'simulated-failure';
      }
    }

    const inserted = await tx.execute(
      `INSERT INTO registered_users (email_key, email, job_id, registered_by, instance, registered_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email_key) DO NOTHING`,
      [key, payload.email, job.id, component, ctx.instance, now],
    );
    // Lost a race with a concurrent job for the same email (PostgreSQL waits for it, then does nothing).
    if (inserted.changes === 0) return duplicate(tx, job, (await registeredBy(tx, key))!, now, emit);
    await tx.execute("UPDATE registration_requests SET state = 'registered', updated_at = $1 WHERE job_id = $2", [
      now,
      job.id,
    ]);
    if (component === 'failure-replay') {
      await tx.execute('UPDATE failure_log SET replayed_at = $1 WHERE job_id = $2', [now, job.id]);
    }
    await emit(RegistrationEvents.REGISTERED, {
      component,
      registeredBy: component,
      instance: ctx.instance,
      attempts,
      registeredAt: new Date(now).toISOString(),
    });
    return 'registered';
  });
  ctx.committed();
  return outcome;
}

async function recordError(
  ctx: RegistrarContext,
  job: Job,
  payload: RegistrationJob,
  component: Component,
  error: unknown,
): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  const now = Date.now();
  await ctx.store.transaction(async (tx) => {
    const emit = emitter(tx, job, payload);
    await ensureRequest(tx, job, payload, now, emit);
    await tx.execute('UPDATE registration_requests SET last_error = $1, updated_at = $2 WHERE job_id = $3', [
      message.slice(0, 1000),
      now,
      job.id,
    ]);
    await emit(RegistrationEvents.FAILED, { component, instance: ctx.instance, reason: 'error', error: message });
  });
  ctx.committed();
}

type Emit = (type: string, data: Record<string, unknown>) => Promise<number>;

function emitter(tx: Queryable, job: Job, payload: RegistrationJob): Emit {
  const base = { jobId: job.id, email: payload.email, failureUuid: payload.failureUuid };
  return (type, data) =>
    appendToOutbox(tx, REGISTRATION_EVENTS_STREAM, {
      id: randomUUID(),
      type,
      data: { ...base, ...data },
      headers: job.headers,
    });
}

/** The request row, created (with its `received` event) the first time any component sees the job. */
async function ensureRequest(tx: Queryable, job: Job, payload: RegistrationJob, now: number, emit: Emit) {
  const created = await tx.execute(
    `INSERT INTO registration_requests (job_id, email_key, email, failure_uuid, state, attempts, received_at, updated_at)
     VALUES ($1, $2, $3, $4, 'received', 0, $5, $6) ON CONFLICT (job_id) DO NOTHING`,
    [job.id, emailKey(payload.email), payload.email, payload.failureUuid, payload.receivedAt, now],
  );
  if (created.changes > 0) {
    await emit(RegistrationEvents.RECEIVED, {
      flags: payload.flags,
      receivedAt: new Date(payload.receivedAt).toISOString(),
    });
  }
}

async function registeredBy(tx: Queryable, key: string) {
  const [row] = await tx.query<{ job_id: string; registered_by: string }>(
    'SELECT job_id, registered_by FROM registered_users WHERE email_key = $1',
    [key],
  );
  return row;
}

async function duplicate(
  tx: Queryable,
  job: Job,
  holder: { job_id: string; registered_by: string },
  now: number,
  emit: Emit,
): Promise<Outcome> {
  // This very job registered it earlier (a redelivery): nothing to add.
  if (holder.job_id === job.id) return 'registered';
  await tx.execute("UPDATE registration_requests SET state = 'duplicate', updated_at = $1 WHERE job_id = $2", [
    now,
    job.id,
  ]);
  await emit(RegistrationEvents.DUPLICATE, { registeredBy: holder.registered_by, registeredByJob: holder.job_id });
  return 'duplicate';
}
