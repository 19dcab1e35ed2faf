// What every backend in the bus bench is driven through: the same messages, sent one per call or in
// batches, delivered to a synchronous counting handler and acknowledged after it returns.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** ~100 bytes as JSON. `t` is performance.now() at the (scheduled) send, for latency. */
export interface Message {
  t: number;
  n: number;
  type: string;
  orderId: string;
  amountCents: number;
}

export function message(n: number, t = performance.now()): Message {
  return { t, n, type: 'order.placed', orderId: `ord-${String(n).padStart(9, '0')}`, amountCents: 1000 + (n % 9000) };
}

export interface Subject {
  /** One message: one call (one round trip). Several: one batch, as the technology allows. */
  send(messages: readonly Message[]): Promise<void>;
  /** Starts delivering with up to `prefetch` messages in flight; each is acked after `handler` returns. */
  consume(handler: (message: Message) => void, prefetch: number): Promise<void>;
  /** Stops consuming and closes every connection; the factory's cleanup deletes what was created. */
  close(): Promise<void>;
}

export interface SubjectFactory {
  name: string;
  /** A fresh queue (file, stream, key prefix) per scenario, so no scenario inherits another's backlog. */
  open(scenario: string): Promise<Subject>;
}

/** Thrown by open() when a backend cannot run yet; the row says so instead of failing the run. */
export class NotAvailable extends Error {
  override name = 'NotAvailable';
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Lets timers and I/O run at least every `everyMs` from loops whose awaits may all resolve as
 * microtasks (node:sqlite is synchronous), without paying an event-loop turn per message.
 */
export function yielder(everyMs = 5): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < everyMs) return undefined;
    last = now;
    return nextTurn();
  };
}

export function errorText(error: unknown): string {
  const text =
    error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  return text.split('\n')[0]!.slice(0, 160);
}

/** No queue at all: send hands each message to the handler on the next event-loop turn. */
export function inProcess(): SubjectFactory {
  return {
    name: 'in-process (harness floor)',
    async open() {
      let deliver: ((message: Message) => void) | undefined;
      return {
        async send(messages) {
          for (const m of messages) setImmediate(() => deliver?.(m));
        },
        async consume(handler) {
          deliver = handler;
        },
        async close() {
          deliver = undefined;
        },
      };
    },
  };
}
