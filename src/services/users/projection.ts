// Applies users events to the query side's read model (see kit/projector.ts for the once-only rule).
import type { StreamEvent } from '../../bus/bus.ts';
import type { Queryable } from '../../store/store.ts';
import { emailKey } from './email.ts';
import { UserEvents, type UserRegistered } from './events.ts';

export async function applyUserEvent(tx: Queryable, event: StreamEvent): Promise<void> {
  if (event.type !== UserEvents.REGISTERED) return; // other facts do not shape this model
  const user = event.data as UserRegistered;
  await tx.execute(
    `INSERT INTO users (id, seq, email, email_key, username, name, registered_by, registered_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
    [
      user.id,
      event.seq,
      user.email,
      user.email === null ? null : emailKey(user.email),
      user.username,
      user.name,
      user.registeredBy,
      user.registeredAt,
    ],
  );
}
