// Store-and-forward: when no instance of a service can take a request on a route that allows it, the
// gateway appends the request to the bus stream `gateway.saf.<service>` (durable before the client
// gets its 202), and a replayer per service sends the stored requests, in order, once the service has
// a healthy instance again. Each outcome is appended to `gateway.saf.results`, so the ticket index
// behind /pending_results is rebuilt from the bus when a gateway starts: a restart loses no ticket.
//
// Delivery is at least once: a gateway that dies after an instance answered but before the result
// was recorded sends the request again after its restart. Every replay carries `Idempotency-Key:
// <ticket>` (unless the client sent its own), so services that honour the key run it once.
//
// A replay ends as `done` with the first answer below 500; as `failed` (dead-lettered, kept with its
// last answer or error) after MAX_ATTEMPTS attempts that timed out or answered 5xx, or after two
// connection resets (the poison-suspect rule of live requests: a request that may be killing its
// instance is not replayed on and on). A refused connection is not an attempt: nothing was sent; nor
// is an instance's "a dependency of mine is down" (it is asked again after a backoff).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, NewEvent, StreamEvent } from '../bus/bus.ts';
import { isAppError } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import type { Pools } from './pool.ts';
import { type Failure, type StoredAnswer, send, type Upstreams } from './proxy.ts';

export const RESULTS_STREAM = 'gateway.saf.results';
export const requestsStream = (service: string) => `gateway.saf.${service}`;
const CONSUMER = 'gateway-replay';
const PAGE = 1000;

export interface ReplayOptions {
  /** Attempts that timed out or answered 5xx before a ticket fails. */
  maxAttempts: number;
  /** Connection resets after sending before a ticket fails (poison suspect). */
  resets: number;
  backoffBaseMs: number;
  backoffCapMs: number;
}

export const REPLAY_DEFAULTS: ReplayOptions = Object.freeze({
  maxAttempts: 8,
  resets: 2,
  backoffBaseMs: 100,
  backoffCapMs: 5_000,
});

export type TicketState = 'pending' | 'done' | 'failed';

/** What is journaled: the request as the upstream would have received it. */
export interface StoredRequest {
  ticket: string;
  service: string;
  route: string;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  /** base64, or null for no body. */
  body: string | null;
  timeoutMs: number;
  receivedAt: number;
  /** A gRPC operation (a transcoded route): replayed as this call instead of the HTTP request. */
  grpc?: StoredCall | undefined;
}

export interface StoredCall {
  method: string;
  message: Record<string, number>;
  /** How seed 003's /pending_results names the operation (Addition, Subtraction, Multiplication). */
  label: string;
}

/** Sends a stored gRPC call to an instance: its answer as JSON, or a Failure. */
export type GrpcSender = (origin: string, call: StoredCall, deadlineMs: number) => Promise<StoredAnswer | Failure>;

interface Completion {
  ticket: string;
  state: 'done' | 'failed';
  attempts: number;
  completedAt: number;
  status: number | null;
  headers: Record<string, string | string[]>;
  /** base64 */
  body: string;
  error: string | null;
}

/** A ticket as GET /pending_results shows it. */
export interface Ticket {
  ticket: string;
  service: string;
  route: string;
  method: string;
  path: string;
  state: TicketState;
  receivedAt: string;
  completedAt: string | null;
  attempts: number;
  /** The service's answer once there is one: JSON bodies parsed, others as text. */
  answer: { status: number; body: unknown } | null;
  error: string | null;
  /** gRPC operations also read as seed 003 listed them: operation, num1, num2, result. */
  operation?: string;
  num1?: number;
  num2?: number;
  /** The operation's result once done (null until then). */
  result?: number | null;
}

export interface Journal {
  /** Journals the request durably and returns its pending ticket. */
  store(request: Omit<StoredRequest, 'ticket' | 'receivedAt'>): Promise<Ticket>;
  /** Pending tickets of a service: new requests queue behind them to keep the order. */
  backlog(service: string): number;
  get(ticket: string): Ticket | undefined;
  /** Newest first. */
  list(filter?: { state?: TicketState; service?: string; limit?: number }): Ticket[];
  close(): Promise<void>;
}

export interface JournalOptions {
  bus: Bus;
  pools: Pools;
  upstreams: Upstreams;
  log: Logger;
  /** Services that have a store-and-forward route. */
  services: readonly string[];
  replay?: ReplayOptions;
  /** How stored gRPC calls are sent (transcoded routes); without it they cannot be replayed. */
  grpc?: GrpcSender;
  /** Called whenever a service's backlog changes (metrics). */
  onBacklog?: (service: string, pending: number) => void;
}

export async function openJournal(options: JournalOptions): Promise<Journal> {
  const { bus, pools, upstreams, log } = options;
  const replay = options.replay ?? REPLAY_DEFAULTS;
  const requests = new Map<string, StoredRequest>();
  const completions = new Map<string, Completion>();
  const backlogs = new Map<string, number>(options.services.map((service) => [service, 0]));
  const abort = new AbortController();

  const addBacklog = (service: string, delta: number) => {
    const pending = (backlogs.get(service) ?? 0) + delta;
    backlogs.set(service, pending);
    options.onBacklog?.(service, pending);
  };

  // Rebuild the index: every outcome first, then every stored request of each service.
  for (const event of await readAll(bus, RESULTS_STREAM)) {
    const completion = event.data as Completion;
    completions.set(completion.ticket, completion);
  }
  for (const service of options.services) {
    for (const event of await readAll(bus, requestsStream(service))) {
      const request = event.data as StoredRequest;
      requests.set(request.ticket, request);
      if (!completions.has(request.ticket)) addBacklog(service, 1);
    }
  }

  async function complete(request: StoredRequest, completion: Completion) {
    await recordResult({ id: `result:${request.ticket}`, type: `request.${completion.state}`, data: completion });
    completions.set(request.ticket, completion);
    addBacklog(request.service, -1);
    log.info(
      { ticket: request.ticket, service: request.service, state: completion.state, status: completion.status },
      `ticket ${request.ticket} ${completion.state}`,
    );
  }

  /**
   * Appends an outcome, retrying while the bus is away: were the append to throw, the subscription
   * would offer the request again and it would be sent once more. Throws only when closing.
   */
  async function recordResult(event: NewEvent) {
    let delayMs = replay.backoffBaseMs;
    for (;;) {
      try {
        await bus.append(RESULTS_STREAM, [event]);
        return;
      } catch (error) {
        if (!isAppError(error) || !error.retryable) throw error;
        log.warn({ err: error, id: event.id, retryInMs: delayMs }, 'could not record a replay result; retrying');
        await sleep(delayMs, undefined, { signal: abort.signal });
        delayMs = Math.min(replay.backoffCapMs, delayMs * 2);
      }
    }
  }

  /** Sends one stored request until it is answered or dead-lettered; throws only when closing. */
  async function replayOne(request: StoredRequest) {
    if (completions.has(request.ticket)) return; // recorded before a crash, offset not yet committed
    const pool = pools.get(request.service);
    if (pool === undefined) throw new Error(`no pool for ${request.service}`);
    const headers: Record<string, string | string[]> = { ...request.headers, 'x-archlab-ticket': request.ticket };
    if (headers['idempotency-key'] === undefined) headers['idempotency-key'] = request.ticket;
    const body = request.body === null ? null : Buffer.from(request.body, 'base64');
    let attempts = 0;
    let resets = 0;
    let delayMs = replay.backoffBaseMs;
    for (;;) {
      await pool.available(abort.signal);
      const member = pool.select();
      if (member === undefined) continue;
      member.outstanding += 1;
      let answer: StoredAnswer | Failure;
      try {
        if (request.grpc === undefined) {
          answer = await send(upstreams, member.origin, { ...request, headers, body }, request.timeoutMs);
        } else if (options.grpc === undefined) {
          throw new Error(`ticket ${request.ticket} is a gRPC call and the journal has no gRPC sender`);
        } else answer = await options.grpc(member.origin, request.grpc, request.timeoutMs);
      } finally {
        member.outstanding -= 1;
      }
      if ('failure' in answer && answer.unavailable) {
        // Up, but a dependency is down: wait and ask again, without spending an attempt.
        await sleep(delayMs, undefined, { signal: abort.signal });
        delayMs = Math.min(replay.backoffCapMs, delayMs * 2);
        continue;
      }
      pool.record(member, 'failure' in answer ? answer : { status: answer.status });
      if ('failure' in answer && answer.failure === 'refused') continue; // nothing sent; member ejected
      attempts += 1;
      if (!('failure' in answer) && answer.status < 500) {
        return complete(request, completion(request, 'done', attempts, answer, null));
      }
      if ('failure' in answer && answer.failure === 'reset') resets += 1;
      const error = 'failure' in answer ? `connection ${answer.failure}` : `answered ${answer.status}`;
      if (attempts >= replay.maxAttempts || resets >= replay.resets) {
        const last = 'failure' in answer ? undefined : answer;
        return complete(request, completion(request, 'failed', attempts, last, error));
      }
      log.warn({ ticket: request.ticket, attempts, error }, `replay of ${request.ticket} failed; retrying`);
      await sleep(delayMs, undefined, { signal: abort.signal });
      delayMs = Math.min(replay.backoffCapMs, delayMs * 2);
    }
  }

  const subscriptions = options.services.map((service) =>
    bus.subscribe(requestsStream(service), { consumer: CONSUMER, batchSize: 1 }, async (events) => {
      for (const event of events) await replayOne(event.data as StoredRequest);
    }),
  );

  function view(request: StoredRequest): Ticket {
    const done = completions.get(request.ticket);
    const ticket: Ticket = {
      ticket: request.ticket,
      service: request.service,
      route: request.route,
      method: request.method,
      path: request.path,
      state: done?.state ?? 'pending',
      receivedAt: new Date(request.receivedAt).toISOString(),
      completedAt: done === undefined ? null : new Date(done.completedAt).toISOString(),
      attempts: done?.attempts ?? 0,
      answer: done === undefined || done.status === null ? null : { status: done.status, body: decode(done) },
      error: done?.error ?? null,
    };
    if (request.grpc !== undefined) {
      const body = ticket.answer?.body as { result?: unknown } | undefined;
      ticket.operation = request.grpc.label;
      ticket.num1 = request.grpc.message.num1;
      ticket.num2 = request.grpc.message.num2;
      ticket.result = typeof body?.result === 'number' ? body.result : null;
    }
    return ticket;
  }

  return {
    async store(fields) {
      const request: StoredRequest = { ...fields, ticket: crypto.randomUUID(), receivedAt: Date.now() };
      await bus.append(requestsStream(request.service), [
        { id: request.ticket, type: 'request.stored', data: request },
      ]);
      requests.set(request.ticket, request);
      addBacklog(request.service, 1);
      return view(request);
    },
    backlog: (service) => backlogs.get(service) ?? 0,
    get(ticket) {
      const request = requests.get(ticket);
      return request === undefined ? undefined : view(request);
    },
    list(filter = {}) {
      const limit = filter.limit ?? 100;
      const found: Ticket[] = [];
      for (const request of [...requests.values()].reverse()) {
        if (filter.service !== undefined && request.service !== filter.service) continue;
        const ticket = view(request);
        if (filter.state !== undefined && ticket.state !== filter.state) continue;
        found.push(ticket);
        if (found.length >= limit) break;
      }
      return found;
    },
    async close() {
      abort.abort(new Error('journal closed'));
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    },
  };
}

function completion(
  request: StoredRequest,
  state: 'done' | 'failed',
  attempts: number,
  answer: StoredAnswer | undefined,
  error: string | null,
): Completion {
  return {
    ticket: request.ticket,
    state,
    attempts,
    completedAt: Date.now(),
    status: answer?.status ?? null,
    headers: answer?.headers ?? {},
    body: (answer?.body ?? Buffer.alloc(0)).toString('base64'),
    error,
  };
}

function decode(done: Completion): unknown {
  const text = Buffer.from(done.body, 'base64').toString('utf8');
  const type = String(done.headers['content-type'] ?? '');
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

async function readAll(bus: Bus, stream: string): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for (;;) {
    const page = await bus.read(stream, { after: all.at(-1)?.seq ?? 0, limit: PAGE });
    all.push(...page);
    if (page.length < PAGE) return all;
  }
}
