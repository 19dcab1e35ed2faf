// Facts the users command side publishes on the `users` stream. The read models are built from these
// alone, so they never see a password hash.
export const USERS_STREAM = 'users';

export interface UserRegistered {
  id: string;
  email: string | null;
  username: string | null;
  name: string | null;
  /** The component that registered the user (instance name). */
  registeredBy: string;
  registeredAt: number;
}

export const UserEvents = {
  REGISTERED: 'user.registered',
} as const;
