// Facts the orders command side publishes on the `orders` stream, and the work queue that carries an
// accepted order to the worker. An order is `processing` until the worker settles it `completed`
// (stock reserved on the products write side) or `failed` (not enough stock, or no such product).
export const ORDERS_STREAM = 'orders';

/** Work queue of orders to process; the job id is the order id, so an order is enqueued once. */
export const ORDERS_QUEUE = 'orders.process';

export type OrderState = 'processing' | 'completed' | 'failed';
export type FailureReason = 'insufficient_stock' | 'product_not_found';

export interface OrderPlaced {
  id: string;
  user: string;
  product: string;
  quantity: number;
  state: 'processing';
  /** The instance that accepted the order. */
  placedBy: string;
  placedAt: number;
}

export interface OrderSettled {
  id: string;
  state: 'completed' | 'failed';
  reason: FailureReason | null;
  settledAt: number;
}

/** The payload of an `orders.process` job. */
export interface ProcessOrder {
  orderId: string;
  product: string;
  quantity: number;
}

export const OrderEvents = {
  PLACED: 'order.placed',
  COMPLETED: 'order.completed',
  FAILED: 'order.failed',
} as const;
