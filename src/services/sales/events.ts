// Facts the sales command side publishes on the `sales` stream. Each query replica builds its read
// model (sellers and sales) from these alone. Field names are the seed's (002), which its clients read.
export const SALES_STREAM = 'sales';

export const TIPOS_DOCUMENTO = ['CEDULA', 'TARJETA_IDENTIDAD', 'PASAPORTE', 'CEDULA_EXTRANJERIA'] as const;
export type TipoDocumento = (typeof TIPOS_DOCUMENTO)[number];

/** A seller as the seed's clients see it. */
export interface Seller {
  id: number;
  nombre: string;
  apellido: string;
  tipo_documento: TipoDocumento;
  numero_documento: string;
  telefono: string;
}

/** A sale as the seed's clients see it; `vendedor` is the seller's id (the seed stored `vendedor.id`). */
export interface Sale {
  id: number;
  producto: string;
  /** Units sold: a positive integer. */
  cantidad: number;
  cliente: string;
  vendedor: number;
}

export type SellerRegistered = Seller & { at: number };
export type SellerUpdated = Seller & { at: number };
export interface SellerDeleted {
  id: number;
  at: number;
}
/** `recordedBy`: the instance that took the command. */
export type SaleRecorded = Sale & { recordedBy: string; at: number };

export const SalesEvents = {
  SELLER_REGISTERED: 'seller.registered',
  SELLER_UPDATED: 'seller.updated',
  SELLER_DELETED: 'seller.deleted',
  SALE_RECORDED: 'sale.recorded',
} as const;
