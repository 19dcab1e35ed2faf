// The sales command side: sellers (register, update, delete) and sales (record). Each command writes
// its rows and its event (outbox) in one transaction, plus the answer when the client sent an
// Idempotency-Key. Ids are integers from a counter row, taken inside the transaction, so they are
// handed out in commit order with no gap.
//
// Deleting a seller who has sales is refused (409 seller_has_sales): a sale keeps naming an existing
// seller, and the history of sales is never rewritten. Every sale takes its seller's row (the
// sales_count increment), so a delete racing a sale either sees the count it has to refuse, or
// commits first and the sale then finds no seller (404).
import { randomUUID } from 'node:crypto';
import { AppError, isAppError } from '../../kit/errors.ts';
import type { TraceContext } from '../../kit/trace.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { StoreErrors } from '../../store/errors.ts';
import { appendToOutbox } from '../../store/outbox.ts';
import type { Queryable, Store } from '../../store/store.ts';
import { type CommandResult, fingerprint, idempotencyKey, runIdempotent } from '../idempotency.ts';
import { SalesErrors } from './errors.ts';
import {
  SALES_STREAM,
  type Sale,
  type SaleRecorded,
  SalesEvents,
  type Seller,
  type SellerDeleted,
  type SellerRegistered,
} from './events.ts';
import { documentKey } from './identifiers.ts';

/** The success messages seed 002's clients read. */
export const SEED_002 = {
  SELLER_CREATED: 'Vendedor creado exitosamente',
  SELLER_UPDATED: 'Vendedor Editado',
} as const;

export type SellerInput = Omit<Seller, 'id'>;
export type SaleInput = Pick<Sale, 'producto' | 'cantidad' | 'cliente'>;

export interface CommandContext {
  store: Store;
  /** The instance name, recorded as the component that took a sale. */
  instance: string;
  /** Called after a commit so the relay moves the event now rather than at its next poll. */
  committed: () => void;
}

export interface CommandMeta {
  idempotencyKey?: string | undefined;
  trace: TraceContext;
}

export async function registerSeller(ctx: CommandContext, input: SellerInput, meta: CommandMeta) {
  const fields = sellerFields(input);
  return command(ctx, meta, fingerprint(['registerSeller', fields]), async (tx) => {
    const id = await nextId(tx, 'seller');
    const at = Date.now();
    await tx.execute(
      `INSERT INTO sellers (id, nombre, apellido, tipo_documento, numero_documento, document_key, telefono,
                            sales_count, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)`,
      [
        id,
        fields.nombre,
        fields.apellido,
        fields.tipo_documento,
        fields.numero_documento,
        documentKey(fields.numero_documento),
        fields.telefono,
        at,
      ],
    );
    const vendedor: Seller = { id, ...fields };
    const data: SellerRegistered = { ...vendedor, at };
    const seq = await emit(tx, SalesEvents.SELLER_REGISTERED, data, meta);
    return { status: 201, body: { message: SEED_002.SELLER_CREATED, vendedor, id, seq } };
  }).catch((error: unknown) => documentTaken(error, fields));
}

/** PUT replaces every field, as the seed's PUT did. */
export async function updateSeller(ctx: CommandContext, id: number, input: SellerInput, meta: CommandMeta) {
  const fields = sellerFields(input);
  return command(ctx, meta, fingerprint(['updateSeller', id, fields]), async (tx) => {
    const at = Date.now();
    const { changes } = await tx.execute(
      `UPDATE sellers SET nombre = $2, apellido = $3, tipo_documento = $4, numero_documento = $5, document_key = $6,
                          telefono = $7, updated_at = $8
       WHERE id = $1`,
      [
        id,
        fields.nombre,
        fields.apellido,
        fields.tipo_documento,
        fields.numero_documento,
        documentKey(fields.numero_documento),
        fields.telefono,
        at,
      ],
    );
    if (changes === 0) throw sellerNotFound(id);
    const vendedor: Seller = { id, ...fields };
    const seq = await emit(tx, SalesEvents.SELLER_UPDATED, { ...vendedor, at }, meta);
    return { status: 200, body: { message: SEED_002.SELLER_UPDATED, vendedor, seq } };
  }).catch((error: unknown) => documentTaken(error, fields));
}

export async function deleteSeller(ctx: CommandContext, id: number, meta: CommandMeta) {
  return command(ctx, meta, fingerprint(['deleteSeller', id]), async (tx) => {
    const { changes } = await tx.execute('DELETE FROM sellers WHERE id = $1 AND sales_count = 0', [id]);
    if (changes === 0) {
      const [row] = await tx.query<{ sales_count: number }>('SELECT sales_count FROM sellers WHERE id = $1', [id]);
      if (row === undefined) throw sellerNotFound(id);
      throw new AppError(
        409,
        SalesErrors.SELLER_HAS_SALES,
        `seller ${id} has ${row.sales_count} sales and is kept so every sale names its seller`,
        { details: { sales: row.sales_count } },
      );
    }
    const data: SellerDeleted = { id, at: Date.now() };
    const seq = await emit(tx, SalesEvents.SELLER_DELETED, data, meta);
    return { status: 200, body: { id, seq } };
  });
}

export async function recordSale(ctx: CommandContext, sellerId: number, input: SaleInput, meta: CommandMeta) {
  const fields: SaleInput = { producto: input.producto, cantidad: input.cantidad, cliente: input.cliente };
  return command(ctx, meta, fingerprint(['recordSale', sellerId, fields]), async (tx) => {
    // Takes the seller's row until commit: a concurrent delete waits, then sees this sale counted.
    const { changes } = await tx.execute('UPDATE sellers SET sales_count = sales_count + 1 WHERE id = $1', [sellerId]);
    if (changes === 0) throw sellerNotFound(sellerId);
    const id = await nextId(tx, 'sale');
    const at = Date.now();
    await tx.execute(
      `INSERT INTO sales (id, seller_id, producto, cantidad, cliente, recorded_by, recorded_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [id, sellerId, fields.producto, fields.cantidad, fields.cliente, ctx.instance, at],
    );
    const sale: Sale = { id, ...fields, vendedor: sellerId };
    const data: SaleRecorded = { ...sale, recordedBy: ctx.instance, at };
    const seq = await emit(tx, SalesEvents.SALE_RECORDED, data, meta);
    return { status: 201, body: { ...sale, seq } };
  });
}

async function command(
  ctx: CommandContext,
  meta: CommandMeta,
  requestFingerprint: string,
  run: (tx: Queryable) => Promise<CommandResult>,
): Promise<CommandResult> {
  const result = await runIdempotent(
    ctx.store,
    { key: idempotencyKey(meta.idempotencyKey), fingerprint: requestFingerprint },
    run,
  );
  ctx.committed();
  return result;
}

/** The next id of `name`; the counter row stays locked until commit, so ids follow commit order. */
async function nextId(tx: Queryable, name: string): Promise<number> {
  const [row] = await tx.query<{ last_id: number }>(
    `INSERT INTO id_counters (name, last_id) VALUES ($1, 1)
     ON CONFLICT (name) DO UPDATE SET last_id = id_counters.last_id + 1
     RETURNING last_id`,
    [name],
  );
  return row!.last_id;
}

function emit(tx: Queryable, type: string, data: unknown, meta: CommandMeta): Promise<number> {
  return appendToOutbox(tx, SALES_STREAM, { id: randomUUID(), type, data, headers: traceHeaders(meta.trace) });
}

/** Only the seed's five fields; anything else a client sent is not kept. */
function sellerFields(input: SellerInput): SellerInput {
  const { nombre, apellido, tipo_documento, numero_documento, telefono } = input;
  return { nombre, apellido, tipo_documento, numero_documento, telefono };
}

function documentTaken(error: unknown, fields: SellerInput): never {
  const columns = isAppError(error) ? ((error.details?.columns as string[] | undefined) ?? []) : [];
  if (isAppError(error) && error.code === StoreErrors.UNIQUE_VIOLATION && columns.includes('document_key')) {
    throw new AppError(
      409,
      SalesErrors.SELLER_DOCUMENT_TAKEN,
      `a seller with ${fields.tipo_documento} ${fields.numero_documento} is already registered`,
    );
  }
  throw error;
}

const sellerNotFound = (id: number) => new AppError(404, SalesErrors.SELLER_NOT_FOUND, `no seller ${id}`);
