// The products command side: create, update, and the stock reservations the orders worker asks for.
// Every change and its event (outbox) commit in one transaction. Stock only ever changes in two ways,
// both decided by the write store, never from a replica's copy:
// - a reservation is one conditional UPDATE (`stock = stock - q WHERE stock >= q`), recorded under the
//   order id first, so a redelivered job gets the first answer back and never decrements twice;
// - a PUT that sets stock is conditional on the version the client read (body `version` or If-Match),
//   so it can never overwrite a reservation made after that read: it is refused with 409 instead.
import { randomUUID } from 'node:crypto';
import { AppError, KitErrors } from '../../kit/errors.ts';
import type { TraceContext } from '../../kit/trace.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { appendToOutbox } from '../../store/outbox.ts';
import type { Queryable, SqlValue, Store } from '../../store/store.ts';
import { type CommandResult, fingerprint, runIdempotent } from '../idempotency.ts';
import { ProductsErrors } from './errors.ts';
import {
  PRODUCTS_STREAM,
  type ProductCreated,
  ProductEvents,
  type ProductSnapshot,
  type ProductStockReserved,
} from './events.ts';
import { fromCents, toCents } from './money.ts';

export interface ProductsCommandContext {
  store: Store;
  /** The instance name, recorded as the component that created the product. */
  instance: string;
  /** Called after a commit so the relay moves the event now rather than at its next poll. */
  committed: () => void;
}

export interface NewProduct {
  name: string;
  description: string;
  value: number;
  stock: number;
}

export interface ProductPatch {
  name?: string | undefined;
  description?: string | undefined;
  value?: number | undefined;
  stock?: number | undefined;
}

export interface Meta {
  trace: TraceContext;
  idempotencyKey?: string | undefined;
}

type SnapshotRow = {
  id: string;
  name: string;
  description: string;
  value_cents: number;
  stock: number;
  version: number;
  updated_at: number;
};

const SNAPSHOT = 'id, name, description, value_cents, stock, version, updated_at';

const snapshotOf = (row: SnapshotRow): ProductSnapshot => ({
  id: row.id,
  name: row.name,
  description: row.description,
  valueCents: row.value_cents,
  stock: row.stock,
  version: row.version,
  updatedAt: row.updated_at,
});

/** The public shape of a product in command answers (the seed's fields plus version). */
export const productBody = (product: ProductSnapshot) => ({
  id: product.id,
  name: product.name,
  description: product.description,
  value: fromCents(product.valueCents),
  stock: product.stock,
  version: product.version,
});

function cents(value: number): number {
  const result = toCents(value);
  if (result === undefined) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, 'value must be 0 or more, with at most 2 decimal places');
  }
  return result;
}

export async function createProduct(
  ctx: ProductsCommandContext,
  input: NewProduct,
  meta: Meta,
): Promise<CommandResult> {
  const valueCents = cents(input.value);
  const now = Date.now();
  const product: ProductCreated = {
    id: randomUUID(),
    name: input.name,
    description: input.description,
    valueCents,
    stock: input.stock,
    version: 1,
    updatedAt: now,
    createdBy: ctx.instance,
    createdAt: now,
  };
  const request = {
    key: meta.idempotencyKey,
    fingerprint: fingerprint(['createProduct', input.name, input.description, valueCents, input.stock]),
  };
  const result = await runIdempotent(ctx.store, request, async (tx) => {
    await tx.execute(
      `INSERT INTO products (id, name, description, value_cents, stock, version, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        product.id,
        product.name,
        product.description,
        product.valueCents,
        product.stock,
        product.version,
        product.createdBy,
        product.createdAt,
        product.updatedAt,
      ],
    );
    const seq = await appendToOutbox(tx, PRODUCTS_STREAM, {
      id: randomUUID(),
      type: ProductEvents.CREATED,
      data: product,
      headers: traceHeaders(meta.trace),
    });
    return { status: 201, body: { ...productBody(product), seq } };
  });
  ctx.committed();
  return result;
}

/**
 * Partial update. `expectedVersion` (from the body or If-Match) makes the whole update conditional;
 * it is required when the patch sets stock.
 */
export async function updateProduct(
  ctx: ProductsCommandContext,
  id: string,
  patch: ProductPatch,
  expectedVersion: number | undefined,
  meta: Meta,
): Promise<CommandResult> {
  if (patch.stock !== undefined && expectedVersion === undefined) {
    throw new AppError(
      428,
      ProductsErrors.VERSION_REQUIRED,
      'setting stock needs the version it replaces (body "version" or If-Match): a blind set could erase a reservation',
    );
  }
  const sets: string[] = [];
  const params: SqlValue[] = [id];
  const set = (column: string, value: SqlValue) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  if (patch.name !== undefined) set('name', patch.name);
  if (patch.description !== undefined) set('description', patch.description);
  if (patch.value !== undefined) set('value_cents', cents(patch.value));
  if (patch.stock !== undefined) set('stock', patch.stock);
  if (sets.length === 0) {
    throw new AppError(
      400,
      KitErrors.VALIDATION_FAILED,
      'body must set at least one of name, description, value, stock',
    );
  }
  set('updated_at', Date.now());
  let condition = '';
  if (expectedVersion !== undefined) {
    params.push(expectedVersion);
    condition = ` AND version = $${params.length}`;
  }

  const result = await ctx.store.transaction(async (tx) => {
    const [row] = await tx.query<SnapshotRow>(
      `UPDATE products SET ${sets.join(', ')}, version = version + 1 WHERE id = $1${condition} RETURNING ${SNAPSHOT}`,
      params,
    );
    if (row === undefined) throw await whyNotUpdated(tx, id, expectedVersion);
    const product = snapshotOf(row);
    const seq = await appendToOutbox(tx, PRODUCTS_STREAM, {
      id: randomUUID(),
      type: ProductEvents.UPDATED,
      data: product,
      headers: traceHeaders(meta.trace),
    });
    return { status: 200, body: { ...productBody(product), seq } };
  });
  ctx.committed();
  return result;
}

async function whyNotUpdated(tx: Queryable, id: string, expectedVersion: number | undefined): Promise<AppError> {
  const [current] = await tx.query<{ version: number }>('SELECT version FROM products WHERE id = $1', [id]);
  if (current === undefined) return new AppError(404, ProductsErrors.PRODUCT_NOT_FOUND, `no product ${id}`);
  return new AppError(
    409,
    ProductsErrors.VERSION_CONFLICT,
    `product ${id} is at version ${current.version}, not ${expectedVersion}: read it again and retry`,
    { details: { version: current.version } },
  );
}

export interface Reservation {
  orderId: string;
  productId: string;
  quantity: number;
  /** reserved: stock was decremented by quantity; refused: not enough stock, nothing changed. */
  outcome: 'reserved' | 'refused';
  /** The product's stock right after this reservation was decided. */
  stock: number;
  /** True when this order id had already been decided: the first answer, nothing changed now. */
  replayed: boolean;
  /** The products stream seq of the stock-reserved event (fresh reservations only). */
  seq?: number;
}

type ReservationRow = { product_id: string; quantity: number; outcome: 'reserved' | 'refused'; stock_after: number };

/** Reserves `quantity` units of a product for an order, once per order id whatever the redeliveries. */
export async function reserveStock(
  ctx: ProductsCommandContext,
  productId: string,
  input: { orderId: string; quantity: number },
  meta: Meta,
): Promise<Reservation> {
  const { orderId, quantity } = input;
  const now = Date.now();
  const reservation = await ctx.store.transaction(async (tx): Promise<Reservation> => {
    // The order's row first: a concurrent redelivery of the same job waits on it, then replays.
    const claimed = await tx.execute(
      `INSERT INTO reservations (order_id, product_id, quantity, outcome, stock_after, created_at)
       VALUES ($1, $2, $3, 'pending', 0, $4) ON CONFLICT (order_id) DO NOTHING`,
      [orderId, productId, quantity, now],
    );
    if (claimed.changes === 0) return earlierReservation(tx, orderId, productId, quantity);

    const [row] = await tx.query<SnapshotRow>(
      `UPDATE products SET stock = stock - $2, version = version + 1, updated_at = $3
       WHERE id = $1 AND stock >= $2 RETURNING ${SNAPSHOT}`,
      [productId, quantity, now],
    );
    let decided: Reservation;
    if (row !== undefined) {
      const event: ProductStockReserved = { ...snapshotOf(row), orderId, quantity };
      const seq = await appendToOutbox(tx, PRODUCTS_STREAM, {
        id: randomUUID(),
        type: ProductEvents.STOCK_RESERVED,
        data: event,
        headers: traceHeaders(meta.trace),
      });
      decided = { orderId, productId, quantity, outcome: 'reserved', stock: row.stock, replayed: false, seq };
    } else {
      const [current] = await tx.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
      // Throwing rolls the claim back too: an unknown product leaves no reservation behind.
      if (current === undefined) throw new AppError(404, ProductsErrors.PRODUCT_NOT_FOUND, `no product ${productId}`);
      decided = { orderId, productId, quantity, outcome: 'refused', stock: current.stock, replayed: false };
    }
    await tx.execute('UPDATE reservations SET outcome = $1, stock_after = $2 WHERE order_id = $3', [
      decided.outcome,
      decided.stock,
      orderId,
    ]);
    return decided;
  });
  if (reservation.seq !== undefined) ctx.committed();
  return reservation;
}

async function earlierReservation(
  tx: Queryable,
  orderId: string,
  productId: string,
  quantity: number,
): Promise<Reservation> {
  const [row] = await tx.query<ReservationRow>(
    'SELECT product_id, quantity, outcome, stock_after FROM reservations WHERE order_id = $1',
    [orderId],
  );
  if (row === undefined || row.product_id !== productId || row.quantity !== quantity) {
    throw new AppError(
      409,
      ProductsErrors.RESERVATION_MISMATCH,
      `order ${orderId} already reserved ${row?.quantity} of product ${row?.product_id}`,
    );
  }
  return { orderId, productId, quantity, outcome: row.outcome, stock: row.stock_after, replayed: true };
}
