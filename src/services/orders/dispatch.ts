// How an accepted order reaches the worker, with no dual write and nothing left in `processing`:
// - The dispatcher follows the orders stream (fed by the outbox relay, so every committed order is on
//   it) with a durable consumer offset, and enqueues one `orders.process` job per `order.placed`, with
//   the order id as job id. The offset moves only after the enqueues, and an enqueue of an id the queue
//   already holds is a no-op, so a crash anywhere re-enqueues at worst, and a job exists for every order.
// - A job whose attempts all failed (products-commands or orders-commands unreachable for that long)
//   goes dead. The sweeper requeues the dead jobs of orders still `processing`, so an order is retried
//   until the worker settles it; dead jobs of settled orders are left as the record they are.
import type { Bus, StreamEvent, Subscription } from '../../bus/bus.ts';
import type { Logger } from '../../kit/logger.ts';
import type { Store } from '../../store/store.ts';
import { ORDERS_QUEUE, ORDERS_STREAM, OrderEvents, type OrderPlaced, type ProcessOrder } from './events.ts';

const DISPATCHER = 'orders-dispatcher';

export function startDispatcher({ bus }: { bus: Bus }): Subscription {
  return bus.subscribe(ORDERS_STREAM, { consumer: DISPATCHER }, async function dispatchOrders(events: StreamEvent[]) {
    await Promise.all(
      events
        .filter((event) => event.type === OrderEvents.PLACED)
        .map((event) => {
          const order = event.data as OrderPlaced;
          const job: ProcessOrder = { orderId: order.id, product: order.product, quantity: order.quantity };
          return bus.enqueue(ORDERS_QUEUE, job, { id: order.id, headers: event.headers });
        }),
    );
  });
}

export interface Sweeper {
  /** One pass now; resolves to how many jobs it requeued. */
  sweep(): Promise<number>;
  close(): Promise<void>;
}

export function startSweeper(options: { bus: Bus; store: Store; log: Logger; intervalMs: number }): Sweeper {
  const { bus, store, log } = options;
  let running: Promise<number> | undefined;

  async function sweepOnce(): Promise<number> {
    let requeued = 0;
    for (const job of await bus.dead(ORDERS_QUEUE, { limit: 1000 })) {
      const [order] = await store.query<{ state: string }>('SELECT state FROM orders WHERE id = $1', [job.id]);
      if (order?.state !== 'processing') continue;
      if (await bus.requeue(ORDERS_QUEUE, job.id)) {
        requeued++;
        log.warn({ orderId: job.id, error: job.error }, 'order job was dead while its order is processing: requeued');
      }
    }
    return requeued;
  }

  function sweep(): Promise<number> {
    running ??= sweepOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => {
    sweep().catch((error: unknown) => log.error({ err: error }, 'orders sweep failed; will retry'));
  }, options.intervalMs);
  timer.unref();

  return {
    sweep,
    async close() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
