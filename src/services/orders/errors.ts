export const OrdersErrors = {
  /** Seed 004's 400: the user or the product is not in the orders service's replicas. */
  ORDER_REFERENCE_UNKNOWN: 'order_reference_unknown',
  ORDER_NOT_FOUND: 'order_not_found',
  /** The worker asked to settle an order that was already settled the other way. */
  ORDER_ALREADY_SETTLED: 'order_already_settled',
} as const;
