// The message bus. One interface, backends per technology (sqlite.ts now, redis.ts next), chosen by
// URL in create-bus.ts; services receive a Bus and never import a backend.
//
// Event stream semantics (bus.contract.ts checks each backend):
// - A stream is an append-only log named by a string. append() assigns consecutive sequence numbers
//   from 1, with no gaps, atomically for the whole batch, in order.
// - Every event carries an id. Appending an id the stream already holds does not append it again:
//   its existing seq is returned (this makes outbox relays idempotent after a crash).
// - expectedSeq: when given, each new (non-duplicate) event must land at expectedSeq + its index + 1,
//   else the call fails with BusErrors.SEQ_CONFLICT and appends nothing. This lets a single writer
//   keep the stream's numbering identical to its own.
// - read() returns events with seq > after, in seq order; replay from zero is read({ after: 0 }).
// - Offsets are durable per (stream, consumer) and survive process restarts.
// - subscribe() delivers batches in order, at least once: a batch whose handler throws is offered
//   again (after a short backoff) and nothing after it is delivered first. With `consumer`, the
//   subscription starts after the stored offset and commits it after each handled batch; with
//   `after`, the caller keeps its own position (e.g. in the same transaction as its read model).
// - After close(), subscriptions stop and every call rejects with BusErrors.CLOSED.
//
// Work queue semantics (queue.contract.ts checks each backend):
// - enqueue(queue, payload, { id }) stores a job durably before it resolves. `id` is the idempotency
//   key: while a job with that id exists in that queue in any state (done and dead included), another
//   enqueue of it is a no-op that resolves { enqueued: false }. Without an id, a random one is used.
// - delayMs holds the job back until that much time has passed.
// - consume() leases up to `concurrency` jobs at a time to this consumer. A handler that resolves acks
//   its job (state done). A handler that throws fails the attempt: the job is retried after
//   min(capMs, baseMs * 2^(attempt-1)) ± jitter; once `attempts` attempts have failed it moves to the
//   consumer's `next` queue (same id, same payload, attempt 1 there; this is how redundancy chains
//   principal → redundancy1 → redundancy2 → failures are declared), or to dead when there is no next.
// - A lease lasts leaseMs and is renewed while the handler runs, so no two consumers run one job at
//   the same time while its holder is alive. A consumer that dies (SIGKILL) stops renewing: after the
//   lease expires the job is delivered again, with its attempt number increased. A redelivery whose
//   attempt is past `attempts` (every holder died with it: a poison job) is not run again: it moves to
//   `next` or dead with the error "lease expired on attempt N".
// - Delivery is at least once; handlers must be idempotent by job id (see Job.id).
// - counts() and dead() inspect a queue; requeue() puts a dead job back to waiting with attempt 1.
// - consumer.close() stops leasing, waits for running handlers, and leaves unfinished jobs to expire.
export type Headers = Record<string, string>;

export interface NewEvent {
  id: string;
  type: string;
  data: unknown;
  headers?: Headers;
}

export interface StreamEvent {
  stream: string;
  seq: number;
  id: string;
  type: string;
  data: unknown;
  headers: Headers;
  /** Append time, ms since the epoch. */
  time: number;
}

export interface Subscription {
  /** Stops delivering; resolves once an in-flight handler has finished. */
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /** Start after this seq and let the caller track its position. */
  after?: number;
  /** Or: start after this consumer's stored offset and commit it after each batch. */
  consumer?: string;
  /** Most events in one handler call (default 100). */
  batchSize?: number;
}

export interface Bus extends WorkQueues {
  append(stream: string, events: readonly NewEvent[], options?: { expectedSeq?: number }): Promise<number[]>;
  read(stream: string, options?: { after?: number; limit?: number }): Promise<StreamEvent[]>;
  /** The last seq of the stream, 0 when empty. */
  head(stream: string): Promise<number>;
  getOffset(stream: string, consumer: string): Promise<number>;
  setOffset(stream: string, consumer: string, seq: number): Promise<void>;
  subscribe(stream: string, options: SubscribeOptions, handler: (events: StreamEvent[]) => Promise<void>): Subscription;
  close(): Promise<void>;
}

export interface EnqueueOptions {
  /** Idempotency key, unique per queue. */
  id?: string;
  delayMs?: number;
  headers?: Headers;
}

export interface Job {
  id: string;
  queue: string;
  payload: unknown;
  headers: Headers;
  /** 1 on the first delivery in this queue; +1 on each retry or redelivery after an expired lease. */
  attempt: number;
  /** The queues this job went through before this one, oldest first (redundancy chains). */
  from: string[];
  /** When the job was first enqueued (ms since the epoch), kept across chain moves. */
  enqueuedAt: number;
}

export interface ConsumeOptions {
  concurrency?: number;
  /** Attempts in this queue before the job moves on (default 3). */
  attempts?: number;
  backoff?: { baseMs?: number; capMs?: number /** 0..1, fraction of the delay randomised */; jitter?: number };
  /** Where a job goes once its attempts are used up; default: dead. */
  next?: string;
  /** How long a lease lasts without renewal (default 30 000 ms). */
  leaseMs?: number;
}

export interface Consumer {
  close(): Promise<void>;
}

export interface QueueCounts {
  /** Ready to be leased now. */
  waiting: number;
  /** Waiting for a delay or a retry backoff to pass. */
  delayed: number;
  leased: number;
  done: number;
  /** Moved on to the `next` queue. */
  moved: number;
  dead: number;
}

export interface DeadJob extends Job {
  error: string;
  failedAt: number;
}

export interface WorkQueues {
  enqueue(queue: string, payload: unknown, options?: EnqueueOptions): Promise<{ id: string; enqueued: boolean }>;
  consume(queue: string, handler: (job: Job) => Promise<void>, options?: ConsumeOptions): Consumer;
  counts(queue: string): Promise<QueueCounts>;
  dead(queue: string, options?: { limit?: number }): Promise<DeadJob[]>;
  /** Puts a dead job back to waiting; false when there is no dead job with that id. */
  requeue(queue: string, id: string): Promise<boolean>;
}
