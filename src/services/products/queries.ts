// The products query side: reads served from the read model only.
import type { Store } from '../../store/store.ts';
import { fromCents } from './money.ts';

export interface ProductView {
  id: string;
  name: string;
  description: string;
  value: number;
  stock: number;
  version: number;
  createdAt: string;
  updatedAt: string;
}

type ProductRow = {
  id: string;
  seq: number;
  name: string;
  description: string;
  value_cents: number;
  stock: number;
  version: number;
  created_at: number;
  updated_at: number;
};

const COLUMNS = 'id, seq, name, description, value_cents, stock, version, created_at, updated_at';

const toView = (row: ProductRow): ProductView => ({
  id: row.id,
  name: row.name,
  description: row.description,
  value: fromCents(row.value_cents),
  stock: row.stock,
  version: row.version,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

/** A page of products in creation order; `cursor` is the seq of the last product of the previous page. */
export async function listProducts(store: Store, { limit, cursor }: { limit: number; cursor: number }) {
  const rows = await store.query<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE seq > $1 ORDER BY seq LIMIT $2`, [
    cursor,
    limit,
  ]);
  return { products: rows.map(toView), nextCursor: rows.length === limit ? rows.at(-1)!.seq : undefined };
}

export async function getProduct(store: Store, id: string): Promise<ProductView | undefined> {
  const [row] = await store.query<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
  return row === undefined ? undefined : toView(row);
}
