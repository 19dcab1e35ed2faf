// Request/response over the bus's work queues (seed 000's TODO "cola de request and response"): a
// request is a job carrying a correlation id, a reply queue and a deadline; the responder answers
// with a job on that reply queue whose id is the correlation id; the requester matches the answer to
// the caller waiting for it.
//
// Contract:
// - One reply queue per requester process (name it after the instance): a restarted requester drains
//   the answers meant for its previous life and drops them, since nobody waits for them any more.
// - The deadline is absolute (ms since the epoch, so requester and responder clocks must roughly
//   agree). The requester gives up at the deadline with 504 `reply_timeout`; a responder that takes a
//   request past its deadline acks it without running the handler, so a backlog built while the
//   responder was down is not worked off for callers long gone.
// - Delivery is at least once: a responder that dies after answering may run a request again, and
//   its second answer (same id on the reply queue) is a no-op. Handlers must be idempotent; queries are.
// - A handler's AppError travels back (status, code, message) and is thrown at the requester; any
//   other error is logged at the responder and arrives as 500 `internal`.
import { randomUUID } from 'node:crypto';
import type { Consumer, Headers, WorkQueues } from '../../bus/bus.ts';
import { AppError, isAppError, KitErrors } from '../../kit/errors.ts';
import type { Logger } from '../../kit/logger.ts';

export const RequestReplyErrors = {
  /** No answer arrived before the request's deadline. */
  REPLY_TIMEOUT: 'reply_timeout',
} as const;

export interface RequestMessage<T = unknown> {
  correlationId: string;
  replyTo: string;
  /** ms since the epoch. */
  deadline: number;
  body: T;
}

export type ReplyMessage<R = unknown> =
  | { correlationId: string; ok: true; body: R }
  | { correlationId: string; ok: false; error: { status: number; code: string; message: string } };

export interface Requester {
  /** Sends `body` to `queue` and resolves with the answer, or rejects at the deadline (504). */
  request<R>(queue: string, body: unknown, options: { timeoutMs: number; headers?: Headers }): Promise<R>;
  /** Stops taking answers; callers still waiting are rejected with 503. */
  close(): Promise<void>;
}

interface Waiter {
  resolve: (body: unknown) => void;
  reject: (error: AppError) => void;
  timer: NodeJS.Timeout;
}

export function startRequester(queues: WorkQueues, options: { replyQueue: string; log: Logger }): Requester {
  const { replyQueue, log } = options;
  const waiting = new Map<string, Waiter>();

  const consumer = queues.consume(
    replyQueue,
    async function takeReply(job) {
      const reply = job.payload as ReplyMessage | null;
      const waiter = typeof reply?.correlationId === 'string' ? waiting.get(reply.correlationId) : undefined;
      if (reply === null || waiter === undefined) {
        log.debug({ queue: replyQueue, id: job.id }, 'reply for no waiting request (late or from before a restart)');
        return;
      }
      waiting.delete(reply.correlationId);
      clearTimeout(waiter.timer);
      if (reply.ok) waiter.resolve(reply.body);
      else waiter.reject(new AppError(reply.error.status, reply.error.code, reply.error.message));
    },
    // Taking a reply cannot fail: one attempt, and enough concurrency that answers never queue up.
    { concurrency: 16, attempts: 1 },
  );

  return {
    async request<R>(queue: string, body: unknown, { timeoutMs, headers }: { timeoutMs: number; headers?: Headers }) {
      const correlationId = randomUUID();
      const deadline = Date.now() + timeoutMs;
      let waiter!: Waiter;
      const answer = new Promise<R>((resolve, reject) => {
        const expire = () => {
          // Timers run on a monotonic clock, the deadline on the wall clock: give up only once the
          // deadline has passed on the clock the responder checks, so a request it takes after this
          // 504 is one it sees as expired and drops.
          const left = deadline - Date.now();
          if (left > 0) {
            waiter.timer = setTimeout(expire, left);
            return;
          }
          waiting.delete(correlationId);
          reject(
            new AppError(504, RequestReplyErrors.REPLY_TIMEOUT, `no answer from ${queue} within ${timeoutMs} ms`, {
              retryable: true,
            }),
          );
        };
        waiter = { resolve: resolve as (body: unknown) => void, reject, timer: setTimeout(expire, timeoutMs) };
      });
      // The deadline can pass while the enqueue below is still waiting for the broker: nothing awaits
      // `answer` yet, and its rejection would be unhandled and end the process. The caller still gets
      // the rejection from `return answer`.
      answer.catch(() => {});
      // Registered before the send, so an answer faster than the enqueue's return finds its waiter.
      waiting.set(correlationId, waiter);
      const message: RequestMessage = { correlationId, replyTo: replyQueue, deadline, body };
      try {
        await queues.enqueue(queue, message, { id: correlationId, headers });
      } catch (error) {
        waiting.delete(correlationId);
        clearTimeout(waiter.timer);
        throw error;
      }
      return answer;
    },
    async close() {
      for (const [id, waiter] of waiting) {
        waiting.delete(id);
        clearTimeout(waiter.timer);
        waiter.reject(new AppError(503, KitErrors.UNAVAILABLE, 'shutting down before the answer arrived'));
      }
      await consumer.close();
    },
  };
}

/** Answers the requests on `queue` with `handler`; close the returned consumer to stop. */
export function serveRequests<T, R>(
  queues: WorkQueues,
  queue: string,
  handler: (body: T, headers: Headers) => Promise<R>,
  options: { log: Logger; concurrency?: number; now?: () => number },
): Consumer {
  const { log, now = Date.now } = options;
  return queues.consume(
    queue,
    async function answerRequest(job) {
      const message = job.payload as RequestMessage<T> | null;
      if (!isRequestMessage(message)) {
        log.warn({ queue, id: job.id }, 'not a request message: dropped (no reply queue to answer)');
        return;
      }
      if (now() >= message.deadline) {
        log.debug({ queue, id: job.id }, 'request past its deadline: dropped, nobody waits for it');
        return;
      }
      let reply: ReplyMessage<R>;
      try {
        reply = { correlationId: message.correlationId, ok: true, body: await handler(message.body, job.headers) };
      } catch (error) {
        if (!isAppError(error)) log.error({ err: error, queue, id: job.id }, 'request handler failed');
        reply = {
          correlationId: message.correlationId,
          ok: false,
          error: isAppError(error)
            ? { status: error.status, code: error.code, message: error.message }
            : { status: 500, code: KitErrors.INTERNAL, message: 'internal error' },
        };
      }
      // A failed send throws: the bus retries the request (the handler is idempotent).
      await queues.enqueue(message.replyTo, reply, { id: message.correlationId, headers: job.headers });
    },
    { concurrency: options.concurrency ?? 4, attempts: 3, backoff: { baseMs: 50, capMs: 200 } },
  );
}

function isRequestMessage<T>(message: RequestMessage<T> | null): message is RequestMessage<T> {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof message.correlationId === 'string' &&
    typeof message.replyTo === 'string' &&
    typeof message.deadline === 'number'
  );
}
