// `orders-worker`: consumes `orders.process` and settles each order. For one job it asks the products
// write side to reserve the stock (idempotent by order id: one conditional UPDATE, recorded under the
// order id) and then settles the order through the orders command side (idempotent too). A worker that
// dies anywhere in between loses nothing: its lease expires, the job is redelivered, the reservation
// answers its first result without decrementing again, and the settlement happens once.
// Fault switch (ARCHLAB_FAULTS or PUT /_admin/faults): orders.worker-crash-after-reserve SIGKILLs the
// process right after a reservation that decremented stock (not after a replayed one, so the
// redelivered job goes through even though the restarted worker has the switch on too).
import { Counter } from 'prom-client';
import type { Job } from '../../bus/bus.ts';
import type { Logger } from '../../kit/logger.ts';
import { createService } from '../../kit/service.ts';
import { consumeInSpan, withinCurrentSpan } from '../../kit/spans.ts';
import { continueTrace, traceHeaders } from '../../kit/trace.ts';
import { ProductsErrors } from '../products/errors.ts';
import { openBus, type Program, serviceOptions } from '../program.ts';
import type { Settlement } from './commands.ts';
import { ordersConfig } from './config.ts';
import { ORDERS_QUEUE, type ProcessOrder } from './events.ts';
import { type Answer, createUpstream, type Upstream } from './upstream.ts';

export const CRASH_AFTER_RESERVE = 'orders.worker-crash-after-reserve';

/** What the products write side's answer to a reservation means for the order. */
export function settlementFor(reservation: Pick<Answer, 'status' | 'body'>): Settlement {
  const { status, body } = reservation;
  if (status === 404 && body?.error?.code === ProductsErrors.PRODUCT_NOT_FOUND) {
    return { state: 'failed', reason: 'product_not_found' };
  }
  if ((status === 200 || status === 201) && body?.outcome === 'reserved') return { state: 'completed' };
  if ((status === 200 || status === 201) && body?.outcome === 'refused') {
    return { state: 'failed', reason: 'insufficient_stock' };
  }
  // Anything else (a 4xx we did not expect) is a bug to surface, not an outcome: the attempt fails.
  throw new Error(`unexpected reservation answer ${status}: ${JSON.stringify(body).slice(0, 200)}`);
}

export interface WorkerDeps {
  upstream: Upstream;
  log: Logger;
  /** True when the crash fault is on. */
  crashAfterReserve: () => boolean;
  /** Ends the process at once (SIGKILL in the program; tests throw). */
  crash: () => never;
}

export async function processOrder(deps: WorkerDeps, job: Job): Promise<Settlement> {
  const { orderId, product, quantity } = job.payload as ProcessOrder;
  // Calls made for this delivery are children of its span (when traced).
  const headers = traceHeaders(withinCurrentSpan(continueTrace(job.headers)));
  const reservation = await deps.upstream.post(
    'products-commands',
    `/internal/products/${encodeURIComponent(product)}/reservations`,
    { orderId, quantity },
    headers,
  );
  const settlement = settlementFor(reservation);
  // 201: this call decremented the stock (200 would be a replay of an earlier decision).
  if (reservation.status === 201 && settlement.state === 'completed' && deps.crashAfterReserve()) {
    deps.log.fatal({ fault: CRASH_AFTER_RESERVE, orderId, attempt: job.attempt }, 'fault: SIGKILL after reserving');
    deps.crash();
  }
  const settled = await deps.upstream.post(
    'orders-commands',
    `/internal/orders/${encodeURIComponent(orderId)}/settlement`,
    settlement,
    headers,
  );
  if (settled.status === 409) {
    // Settled the other way already: nothing this job can do that would not be a second decision.
    deps.log.error({ orderId, settlement, answer: settled.body }, 'order already settled differently');
  } else if (settled.status !== 200) {
    throw new Error(`settling order ${orderId} answered ${settled.status}: ${JSON.stringify(settled.body)}`);
  }
  return settlement;
}

export const ordersWorker: Program = async (ctx) => {
  const config = ordersConfig();
  ctx.log.info({ config }, 'orders worker settings');
  const bus = await openBus(ctx);
  const service = createService(serviceOptions(ctx));
  const settled = new Counter({
    name: 'archlab_orders_settled_total',
    help: 'Orders this worker settled, by final state',
    labelNames: ['state'],
    registers: [service.registry],
  });
  const deps: WorkerDeps = {
    upstream: createUpstream({
      dataDir: ctx.dataDir,
      token: ctx.adminToken,
      tryTimeoutMs: config.tryTimeoutMs,
      deadlineMs: config.deadlineMs,
      log: ctx.log,
    }),
    log: ctx.log,
    crashAfterReserve: () => service.faults.isOn(CRASH_AFTER_RESERVE),
    crash: () => {
      process.kill(process.pid, 'SIGKILL');
      throw new Error('unreachable: SIGKILL sent to self');
    },
  };
  ctx.shutdown.add('http', () => service.close());
  const url = await service.listen();
  const consumer = bus.consume(
    ORDERS_QUEUE,
    async function processOrderJob(job) {
      try {
        const settlement = await consumeInSpan(
          job.headers,
          `consume ${ORDERS_QUEUE}`,
          { 'messaging.message.id': job.id, 'archlab.attempt': job.attempt },
          () => processOrder(deps, job),
        );
        settled.inc({ state: settlement.state });
      } catch (error) {
        ctx.log.warn({ err: error, orderId: job.id, attempt: job.attempt }, 'order attempt failed; will be retried');
        throw error;
      }
    },
    {
      concurrency: config.concurrency,
      attempts: config.attempts,
      leaseMs: config.leaseMs,
      backoff: { baseMs: config.retryBaseMs, capMs: config.retryCapMs },
    },
  );
  // Closed before the HTTP server and the bus (closers run in reverse): running jobs finish first.
  ctx.shutdown.add('orders consumer', () => consumer.close());
  return { url };
};
