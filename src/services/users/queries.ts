// The users query side: reads served from the read model only.
import type { Store } from '../../store/store.ts';
import { emailKey } from './email.ts';

export interface UserView {
  id: string;
  email: string | null;
  username: string | null;
  name: string | null;
  registeredBy: string;
  registeredAt: string;
}

type UserRow = {
  id: string;
  seq: number;
  email: string | null;
  username: string | null;
  name: string | null;
  registered_by: string;
  registered_at: number;
};

const COLUMNS = 'id, seq, email, username, name, registered_by, registered_at';

const toView = (row: UserRow): UserView => ({
  id: row.id,
  email: row.email,
  username: row.username,
  name: row.name,
  registeredBy: row.registered_by,
  registeredAt: new Date(row.registered_at).toISOString(),
});

/** A page of users in registration order; `cursor` is the seq of the last user of the previous page. */
export async function listUsers(store: Store, { limit, cursor }: { limit: number; cursor: number }) {
  const rows = await store.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE seq > $1 ORDER BY seq LIMIT $2`, [
    cursor,
    limit,
  ]);
  return { users: rows.map(toView), nextCursor: rows.length === limit ? rows.at(-1)!.seq : undefined };
}

export async function getUser(store: Store, id: string): Promise<UserView | undefined> {
  const [row] = await store.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
  return row === undefined ? undefined : toView(row);
}

/** Advisory: the write store's UNIQUE index is what actually refuses a duplicate. */
export async function emailRegistered(store: Store, email: string): Promise<boolean> {
  const rows = await store.query('SELECT 1 AS found FROM users WHERE email_key = $1 LIMIT 1', [emailKey(email)]);
  return rows.length > 0;
}
