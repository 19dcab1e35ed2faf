// Applies products events to the query side's read model (see kit/projector.ts for the once-only rule).
// Each event carries the product's whole state at its version; an update applies only over an older
// version, so a replayed, duplicated or late event never moves a product backwards.
import type { StreamEvent } from '../../bus/bus.ts';
import type { Queryable } from '../../store/store.ts';
import { type ProductCreated, ProductEvents, type ProductSnapshot } from './events.ts';

export async function applyProductEvent(tx: Queryable, event: StreamEvent): Promise<void> {
  switch (event.type) {
    case ProductEvents.CREATED: {
      const product = event.data as ProductCreated;
      await tx.execute(
        `INSERT INTO products (id, seq, name, description, value_cents, stock, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
        [
          product.id,
          event.seq,
          product.name,
          product.description,
          product.valueCents,
          product.stock,
          product.version,
          product.createdAt,
          product.updatedAt,
        ],
      );
      return;
    }
    case ProductEvents.UPDATED:
    case ProductEvents.STOCK_RESERVED: {
      const product = event.data as ProductSnapshot;
      await tx.execute(
        `UPDATE products SET name = $2, description = $3, value_cents = $4, stock = $5, version = $6, updated_at = $7
         WHERE id = $1 AND version < $6`,
        [
          product.id,
          product.name,
          product.description,
          product.valueCents,
          product.stock,
          product.version,
          product.updatedAt,
        ],
      );
      return;
    }
    default:
      return; // other facts do not shape this model
  }
}
