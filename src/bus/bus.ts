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
// Work queues (enqueue with idempotency key, leases, retries, `next` chains, dead letters) join this
// interface in the next step; they share the same backends and the same URL.
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

export interface Bus {
  append(stream: string, events: readonly NewEvent[], options?: { expectedSeq?: number }): Promise<number[]>;
  read(stream: string, options?: { after?: number; limit?: number }): Promise<StreamEvent[]>;
  /** The last seq of the stream, 0 when empty. */
  head(stream: string): Promise<number>;
  getOffset(stream: string, consumer: string): Promise<number>;
  setOffset(stream: string, consumer: string, seq: number): Promise<void>;
  subscribe(stream: string, options: SubscribeOptions, handler: (events: StreamEvent[]) => Promise<void>): Subscription;
  close(): Promise<void>;
}
