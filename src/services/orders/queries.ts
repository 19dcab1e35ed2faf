// The orders query side: reads served from the read model only.
import type { SqlValue, Store } from '../../store/store.ts';
import type { OrderState } from './events.ts';

export interface OrderView {
  id: string;
  user: string;
  product: string;
  quantity: number;
  state: OrderState;
  /** Why a failed order failed (insufficient_stock, product_not_found); null otherwise. */
  reason: string | null;
  createdAt: string;
  updatedAt: string;
}

type OrderRow = {
  id: string;
  seq: number;
  user_id: string;
  product_id: string;
  quantity: number;
  state: OrderState;
  reason: string | null;
  created_at: number;
  updated_at: number;
};

const COLUMNS = 'id, seq, user_id, product_id, quantity, state, reason, created_at, updated_at';

const toView = (row: OrderRow): OrderView => ({
  id: row.id,
  user: row.user_id,
  product: row.product_id,
  quantity: row.quantity,
  state: row.state,
  reason: row.reason,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

/** A page of orders in placement order, optionally only those in `state`. */
export async function listOrders(
  store: Store,
  { limit, cursor, state }: { limit: number; cursor: number; state?: OrderState | undefined },
) {
  const params: SqlValue[] = [cursor, limit];
  let where = 'seq > $1';
  if (state !== undefined) {
    params.push(state);
    where += ' AND state = $3';
  }
  const rows = await store.query<OrderRow>(
    `SELECT ${COLUMNS} FROM orders WHERE ${where} ORDER BY seq LIMIT $2`,
    params,
  );
  return { orders: rows.map(toView), nextCursor: rows.length === limit ? rows.at(-1)!.seq : undefined };
}

export async function getOrder(store: Store, id: string): Promise<OrderView | undefined> {
  const [row] = await store.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE id = $1`, [id]);
  return row === undefined ? undefined : toView(row);
}
