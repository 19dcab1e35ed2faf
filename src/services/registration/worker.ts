// Wires users-registrar's consumers onto a bus: the three chain stages, the failure log, its replay
// and the status queries. Separate from main.ts so tests run the same wiring in one process.
import type { Bus, Job } from '../../bus/bus.ts';
import { AppError } from '../../kit/errors.ts';
import type { Logger } from '../../kit/logger.ts';
import { consumeInSpan } from '../../kit/spans.ts';
import { loadMigrations } from '../../store/migrations.ts';
import type { Store } from '../../store/store.ts';
import { CHAIN, Queues } from './chain.ts';
import type { RegistrationConfig } from './config.ts';
import { RegistrationErrors } from './errors.ts';
import { registrationStatus } from './queries.ts';
import { logFailure, type RegistrarContext, replayFailure, runStage } from './registrar.ts';
import { serveRequests } from './request-reply.ts';

/** The registrar store's tables (apply after outboxMigrations). */
export const registrarMigrations = loadMigrations(new URL('./migrations/registrar/', import.meta.url));

export interface RegistrarOptions {
  bus: Bus;
  store: Store;
  instance: string;
  log: Logger;
  config: Readonly<RegistrationConfig>;
  /** Called after each commit (the outbox relay's notify). */
  committed: () => void;
  stalled?: RegistrarContext['stalled'];
}

/** Starts every consumer; close() stops leasing and waits for running jobs. */
export function startRegistrar(options: RegistrarOptions): { close(): Promise<void> } {
  const { bus, store, log, config } = options;
  const registrar: RegistrarContext = {
    store,
    instance: options.instance,
    committed: options.committed,
    log,
    stalled: options.stalled,
  };
  const { leaseMs, concurrency } = config;

  const consumers = CHAIN.map(({ stage, queue, next }) =>
    bus.consume(
      queue,
      (job) =>
        consumeInSpan(
          job.headers,
          `consume ${queue}`,
          { 'messaging.message.id': job.id, 'archlab.attempt': job.attempt },
          () => runStage(registrar, stage, job),
        ),
      { attempts: 1, next, leaseMs, concurrency },
    ),
  );
  // The failure log and its replay retry with backoff until replayAttempts; past that a job waits in
  // the replay queue's dead letters (bus.dead / bus.requeue), never dropped.
  const replayPolicy = {
    attempts: config.replayAttempts,
    backoff: { baseMs: config.replayBackoffBaseMs, capMs: config.replayBackoffCapMs },
    leaseMs,
    concurrency,
  };
  const scheduleReplay = async (job: Job) => {
    await bus.enqueue(Queues.REPLAY, job.payload, { id: job.id, delayMs: config.replayDelayMs, headers: job.headers });
  };
  consumers.push(
    bus.consume(Queues.FAILURES, (job) => logFailure(registrar, job, scheduleReplay), replayPolicy),
    bus.consume(Queues.REPLAY, (job) => replayFailure(registrar, job), replayPolicy),
    serveRequests<{ email?: unknown }, unknown>(
      bus,
      Queues.QUERIES,
      async ({ email }) => {
        const status = typeof email === 'string' ? await registrationStatus(store, email) : undefined;
        if (status === undefined) {
          throw new AppError(404, RegistrationErrors.NOT_FOUND, `no registration of ${String(email)} is known yet`);
        }
        return status;
      },
      { log, concurrency },
    ),
  );
  return {
    async close() {
      await Promise.all(consumers.map((consumer) => consumer.close()));
    },
  };
}
