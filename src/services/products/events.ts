// Facts the products command side publishes on the `products` stream. Every event carries the
// product's whole state at its new version, so a consumer (the products read model, the orders
// service's replica) applies an event only when it is newer than what it holds: a replayed or
// duplicated event changes nothing and an older snapshot never overwrites a newer one.
export const PRODUCTS_STREAM = 'products';

export interface ProductSnapshot {
  id: string;
  name: string;
  description: string;
  /** Exact money: integer cents (the API shows `value` as a decimal with at most 2 places). */
  valueCents: number;
  /** Units available; never negative. */
  stock: number;
  /** 1 at creation, +1 on every change (update or reservation). */
  version: number;
  updatedAt: number;
}

export interface ProductCreated extends ProductSnapshot {
  createdBy: string;
  createdAt: number;
}

export interface ProductStockReserved extends ProductSnapshot {
  orderId: string;
  quantity: number;
}

export const ProductEvents = {
  CREATED: 'product.created',
  UPDATED: 'product.updated',
  STOCK_RESERVED: 'product.stock-reserved',
} as const;
