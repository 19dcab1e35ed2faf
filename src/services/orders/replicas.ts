// The orders service's own replicas of users and products, in its command store, each fed by a
// projector on the other service's stream (positions commit with the rows, kit/projector.ts). Both
// appliers are idempotent: a user is inserted once (ON CONFLICT DO NOTHING), a product snapshot applies
// only over an older version, so replaying a stream from zero — or the same batch twice — changes
// nothing and never fails on a duplicate key (the seed's replication crashed on exactly that).
// The replicas only say whether a user or product exists; stock is decided by the products write side.
import type { StreamEvent } from '../../bus/bus.ts';
import type { Queryable } from '../../store/store.ts';
import { type ProductCreated, ProductEvents, type ProductSnapshot } from '../products/events.ts';
import { UserEvents, type UserRegistered } from '../users/events.ts';

export async function applyUserToReplica(tx: Queryable, event: StreamEvent): Promise<void> {
  if (event.type !== UserEvents.REGISTERED) return;
  const user = event.data as UserRegistered;
  await tx.execute(
    'INSERT INTO user_replica (id, username, email, seq) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
    [user.id, user.username, user.email, event.seq],
  );
}

export async function applyProductToReplica(tx: Queryable, event: StreamEvent): Promise<void> {
  if (
    event.type !== ProductEvents.CREATED &&
    event.type !== ProductEvents.UPDATED &&
    event.type !== ProductEvents.STOCK_RESERVED
  ) {
    return;
  }
  const product = event.data as ProductSnapshot | ProductCreated;
  await tx.execute(
    `INSERT INTO product_replica (id, name, value_cents, stock, version) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, value_cents = excluded.value_cents,
       stock = excluded.stock, version = excluded.version
     WHERE product_replica.version < excluded.version`,
    [product.id, product.name, product.valueCents, product.stock, product.version],
  );
}

export async function userKnown(db: Queryable, id: string): Promise<boolean> {
  return (await db.query('SELECT 1 AS found FROM user_replica WHERE id = $1', [id])).length > 0;
}

export async function productKnown(db: Queryable, id: string): Promise<boolean> {
  return (await db.query('SELECT 1 AS found FROM product_replica WHERE id = $1', [id])).length > 0;
}
