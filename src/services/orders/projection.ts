// Applies orders events to the query side's read model (see kit/projector.ts for the once-only rule).
// Both statements are idempotent: an order is inserted once, and only a processing order is settled.
import type { StreamEvent } from '../../bus/bus.ts';
import type { Queryable } from '../../store/store.ts';
import { OrderEvents, type OrderPlaced, type OrderSettled } from './events.ts';

export async function applyOrderEvent(tx: Queryable, event: StreamEvent): Promise<void> {
  switch (event.type) {
    case OrderEvents.PLACED: {
      const order = event.data as OrderPlaced;
      await tx.execute(
        `INSERT INTO orders (id, seq, user_id, product_id, quantity, state, reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7) ON CONFLICT (id) DO NOTHING`,
        [order.id, event.seq, order.user, order.product, order.quantity, order.state, order.placedAt],
      );
      return;
    }
    case OrderEvents.COMPLETED:
    case OrderEvents.FAILED: {
      const settled = event.data as OrderSettled;
      await tx.execute(
        `UPDATE orders SET state = $2, reason = $3, updated_at = $4 WHERE id = $1 AND state = 'processing'`,
        [settled.id, settled.state, settled.reason, settled.settledAt],
      );
      return;
    }
    default:
      return; // other facts do not shape this model
  }
}
