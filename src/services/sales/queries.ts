// The sales query side: reads served from the replica's own read model only.
import type { Store } from '../../store/store.ts';
import type { Sale, Seller, TipoDocumento } from './events.ts';

type SaleRow = { id: number; producto: string; cantidad: number; cliente: string; vendedor: number };
type SellerRow = {
  id: number;
  nombre: string;
  apellido: string;
  tipo_documento: string;
  numero_documento: string;
  telefono: string;
};

const SALE_COLUMNS = 'id, producto, cantidad, cliente, vendedor';
const SELLER_COLUMNS = 'id, nombre, apellido, tipo_documento, numero_documento, telefono';

const toSale = (row: SaleRow): Sale => ({
  id: row.id,
  producto: row.producto,
  cantidad: row.cantidad,
  cliente: row.cliente,
  vendedor: row.vendedor,
});

const toSeller = (row: SellerRow): Seller => ({
  id: row.id,
  nombre: row.nombre,
  apellido: row.apellido,
  tipo_documento: row.tipo_documento as TipoDocumento,
  numero_documento: row.numero_documento,
  telefono: row.telefono,
});

export interface Page<T> {
  items: T[];
  /** The id to pass as `cursor` for the next page; undefined on the last page. */
  nextCursor: number | undefined;
}

/** Sales in id order (the order they were recorded); `cursor` is the last id of the previous page. */
export async function listSales(store: Store, { limit, cursor }: { limit: number; cursor: number }) {
  const rows = await store.query<SaleRow>(`SELECT ${SALE_COLUMNS} FROM sales WHERE id > $1 ORDER BY id LIMIT $2`, [
    cursor,
    limit,
  ]);
  return page(rows.map(toSale), limit);
}

export async function getSale(store: Store, id: number): Promise<Sale | undefined> {
  const [row] = await store.query<SaleRow>(`SELECT ${SALE_COLUMNS} FROM sales WHERE id = $1`, [id]);
  return row === undefined ? undefined : toSale(row);
}

export async function listSellers(store: Store, { limit, cursor }: { limit: number; cursor: number }) {
  const rows = await store.query<SellerRow>(
    `SELECT ${SELLER_COLUMNS} FROM sellers WHERE id > $1 ORDER BY id LIMIT $2`,
    [cursor, limit],
  );
  return page(rows.map(toSeller), limit);
}

export async function getSeller(store: Store, id: number): Promise<Seller | undefined> {
  const [row] = await store.query<SellerRow>(`SELECT ${SELLER_COLUMNS} FROM sellers WHERE id = $1`, [id]);
  return row === undefined ? undefined : toSeller(row);
}

function page<T extends { id: number }>(items: T[], limit: number): Page<T> {
  return { items, nextCursor: items.length === limit ? items.at(-1)!.id : undefined };
}
