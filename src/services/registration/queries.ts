// The status of an email's registration, answered by users-registrar from its own store (the HTTP
// side asks over the bus: see request-reply.ts).
import type { Store } from '../../store/store.ts';
import { emailKey } from '../users/email.ts';
import type { Component } from './chain.ts';

export interface RegistrationStatus {
  email: string;
  /** received: accepted and somewhere in the chain or the failure log; registered: done. */
  state: 'received' | 'registered';
  registeredBy: Component | null;
  /** Attempts by every component over every request for this email. */
  attempts: number;
  registeredAt: string | null;
}

/** undefined when the registrar has seen no request for this email. */
export async function registrationStatus(store: Store, email: string): Promise<RegistrationStatus | undefined> {
  const key = emailKey(email);
  const [user] = await store.query<{ email: string; registered_by: Component; registered_at: number }>(
    'SELECT email, registered_by, registered_at FROM registered_users WHERE email_key = $1',
    [key],
  );
  const [requests] = await store.query<{ n: number; attempts: number | null }>(
    'SELECT COUNT(*) AS n, SUM(attempts) AS attempts FROM registration_requests WHERE email_key = $1',
    [key],
  );
  if (user === undefined && Number(requests?.n ?? 0) === 0) return undefined;
  return {
    email: user?.email ?? email,
    state: user === undefined ? 'received' : 'registered',
    registeredBy: user?.registered_by ?? null,
    attempts: Number(requests?.attempts ?? 0),
    registeredAt: user === undefined ? null : new Date(Number(user.registered_at)).toISOString(),
  };
}
