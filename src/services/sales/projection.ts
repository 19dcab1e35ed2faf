// Applies sales events to a query replica's read model (see kit/projector.ts for the once-only rule:
// the projector commits each event with the new position, so nothing here is applied twice). The
// inserts still tolerate a replay (ON CONFLICT DO NOTHING), like every projection in archlab.
import type { StreamEvent } from '../../bus/bus.ts';
import type { Queryable } from '../../store/store.ts';
import {
  type SaleRecorded,
  SalesEvents,
  type SellerDeleted,
  type SellerRegistered,
  type SellerUpdated,
} from './events.ts';

export async function applySalesEvent(tx: Queryable, event: StreamEvent): Promise<void> {
  switch (event.type) {
    case SalesEvents.SELLER_REGISTERED: {
      const s = event.data as SellerRegistered;
      await tx.execute(
        `INSERT INTO sellers (id, seq, nombre, apellido, tipo_documento, numero_documento, telefono)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
        [s.id, event.seq, s.nombre, s.apellido, s.tipo_documento, s.numero_documento, s.telefono],
      );
      return;
    }
    case SalesEvents.SELLER_UPDATED: {
      const s = event.data as SellerUpdated;
      await tx.execute(
        `UPDATE sellers SET seq = $2, nombre = $3, apellido = $4, tipo_documento = $5, numero_documento = $6,
                            telefono = $7
         WHERE id = $1`,
        [s.id, event.seq, s.nombre, s.apellido, s.tipo_documento, s.numero_documento, s.telefono],
      );
      return;
    }
    case SalesEvents.SELLER_DELETED: {
      await tx.execute('DELETE FROM sellers WHERE id = $1', [(event.data as SellerDeleted).id]);
      return;
    }
    case SalesEvents.SALE_RECORDED: {
      const s = event.data as SaleRecorded;
      await tx.execute(
        `INSERT INTO sales (id, seq, producto, cantidad, cliente, vendedor, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
        [s.id, event.seq, s.producto, s.cantidad, s.cliente, s.vendedor, s.at],
      );
      return;
    }
    default:
      return; // other facts do not shape this model
  }
}
