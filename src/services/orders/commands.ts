// The orders command side: place an order (checked against the service's own replicas, written as
// `processing` with its `order.placed` event in one transaction) and settle it (the worker's command:
// `completed` or `failed`, once). The job that carries the order to the worker is enqueued from the
// stream by the dispatcher (dispatch.ts), so an accepted order can never miss its job.
import { randomUUID } from 'node:crypto';
import type { Bus } from '../../bus/bus.ts';
import { AppError } from '../../kit/errors.ts';
import { MinSeqErrors } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { TraceContext } from '../../kit/trace.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { appendToOutbox } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import { type CommandResult, fingerprint, runIdempotent } from '../idempotency.ts';
import { PRODUCTS_STREAM } from '../products/events.ts';
import { USERS_STREAM } from '../users/events.ts';
import { OrdersErrors } from './errors.ts';
import { type FailureReason, ORDERS_STREAM, OrderEvents, type OrderPlaced, type OrderSettled } from './events.ts';
import { productKnown, userKnown } from './replicas.ts';

/** Seed 004's words for an order naming a user or product that does not exist. */
export const UNKNOWN_REFERENCE_MESSAGE = 'The product or the user dont exist';

export interface OrdersCommandContext {
  store: Store;
  bus: Pick<Bus, 'head'>;
  instance: string;
  committed: () => void;
  replicas: { users: Projector; products: Projector };
  /** Longest wait for a replica to catch up before an order is judged (default 2000 ms). */
  replicaWaitMs?: number;
}

export interface PlaceOrder {
  user: string;
  product: string;
  quantity: number;
}

/** Read-your-writes hints: the `seq` the users / products commands answered. */
export interface ReplicaHints {
  usersSeq?: number | undefined;
  productsSeq?: number | undefined;
}

export async function placeOrder(
  ctx: OrdersCommandContext,
  input: PlaceOrder,
  hints: ReplicaHints,
  meta: { trace: TraceContext; idempotencyKey?: string | undefined },
): Promise<CommandResult> {
  await checkReferences(ctx, input, hints);
  const now = Date.now();
  const order: OrderPlaced = {
    id: randomUUID(),
    user: input.user,
    product: input.product,
    quantity: input.quantity,
    state: 'processing',
    placedBy: ctx.instance,
    placedAt: now,
  };
  const request = {
    key: meta.idempotencyKey,
    fingerprint: fingerprint(['placeOrder', input.user, input.product, input.quantity]),
  };
  const result = await runIdempotent(ctx.store, request, async (tx) => {
    await tx.execute(
      `INSERT INTO orders (id, user_id, product_id, quantity, state, reason, placed_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $7)`,
      [order.id, order.user, order.product, order.quantity, order.state, order.placedBy, order.placedAt],
    );
    const seq = await appendToOutbox(tx, ORDERS_STREAM, {
      id: randomUUID(),
      type: OrderEvents.PLACED,
      data: order,
      headers: traceHeaders(meta.trace),
    });
    const { id, user, product, quantity, state } = order;
    return { status: 202, body: { id, user, product, quantity, state, seq } };
  });
  ctx.committed();
  return result;
}

/**
 * The user and the product must be in this service's replicas. A replica may lag its stream (a user
 * registered a moment ago): with hints the order waits (bounded) for the replicas to reach them, and
 * answers 504 read_model_behind past the bound; without hints a miss waits (bounded) for the replicas
 * to reach the streams' current heads and looks again. Only then is it the seed's 400.
 */
async function checkReferences(ctx: OrdersCommandContext, input: PlaceOrder, hints: ReplicaHints) {
  const waitMs = ctx.replicaWaitMs ?? 2000;
  const { users, products } = ctx.replicas;
  for (const [replica, seq, name] of [
    [users, hints.usersSeq, 'users'],
    [products, hints.productsSeq, 'products'],
  ] as const) {
    if (seq !== undefined && !(await replica.waitFor(seq, waitMs))) {
      throw new AppError(
        504,
        MinSeqErrors.READ_MODEL_BEHIND,
        `the ${name} replica at seq ${replica.position()} did not reach ${seq} within ${waitMs} ms`,
        { retryable: true, details: { position: replica.position(), minSeq: seq } },
      );
    }
  }
  const known = async () => (await userKnown(ctx.store, input.user)) && (await productKnown(ctx.store, input.product));
  if (await known()) return;
  const [usersHead, productsHead] = await Promise.all([ctx.bus.head(USERS_STREAM), ctx.bus.head(PRODUCTS_STREAM)]);
  if (users.position() < usersHead || products.position() < productsHead) {
    await Promise.all([users.waitFor(usersHead, waitMs), products.waitFor(productsHead, waitMs)]);
    if (await known()) return;
  }
  throw new AppError(400, OrdersErrors.ORDER_REFERENCE_UNKNOWN, UNKNOWN_REFERENCE_MESSAGE);
}

export interface Settlement {
  state: 'completed' | 'failed';
  reason?: FailureReason | undefined;
}

/**
 * Moves a processing order to its final state, once. Settling it again to the same state answers the
 * first result (a redelivered job); to the other state, 409 order_already_settled.
 */
export async function settleOrder(
  ctx: Pick<OrdersCommandContext, 'store' | 'committed'>,
  id: string,
  settlement: Settlement,
  meta: { trace: TraceContext },
): Promise<CommandResult> {
  const reason = settlement.state === 'failed' ? (settlement.reason ?? null) : null;
  const now = Date.now();
  const result = await ctx.store.transaction(async (tx): Promise<CommandResult> => {
    const changed = await tx.execute(
      `UPDATE orders SET state = $2, reason = $3, updated_at = $4 WHERE id = $1 AND state = 'processing'`,
      [id, settlement.state, reason, now],
    );
    if (changed.changes === 1) {
      const event: OrderSettled = { id, state: settlement.state, reason, settledAt: now };
      const seq = await appendToOutbox(tx, ORDERS_STREAM, {
        id: randomUUID(),
        type: settlement.state === 'completed' ? OrderEvents.COMPLETED : OrderEvents.FAILED,
        data: event,
        headers: traceHeaders(meta.trace),
      });
      return { status: 200, body: { id, state: settlement.state, reason, seq, replayed: false } };
    }
    const [current] = await tx.query<{ state: string; reason: string | null }>(
      'SELECT state, reason FROM orders WHERE id = $1',
      [id],
    );
    if (current === undefined) throw new AppError(404, OrdersErrors.ORDER_NOT_FOUND, `no order ${id}`);
    if (current.state !== settlement.state) {
      throw new AppError(409, OrdersErrors.ORDER_ALREADY_SETTLED, `order ${id} is already ${current.state}`, {
        details: { state: current.state },
      });
    }
    return { status: 200, body: { id, state: current.state, reason: current.reason, replayed: true } };
  });
  if (result.body.replayed === false) ctx.committed();
  return result;
}
