// The users command side: registration. The user row, its `user.registered` event (outbox) and, when
// the client sent an Idempotency-Key, the response to replay, all commit in one transaction.
import { createHash, randomUUID } from 'node:crypto';
import { AppError, isAppError } from '../../kit/errors.ts';
import type { TraceContext } from '../../kit/trace.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { StoreErrors } from '../../store/errors.ts';
import { appendToOutbox } from '../../store/outbox.ts';
import type { Store } from '../../store/store.ts';
import { type CommandResult, replay } from '../idempotency.ts';
import { emailKey, isValidEmail } from './email.ts';
import { UsersErrors } from './errors.ts';
import { USERS_STREAM, UserEvents, type UserRegistered } from './events.ts';
import { hashPassword } from './password.ts';

export interface RegisterUser {
  email?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  name?: string | undefined;
}

export type { CommandResult };

export interface CommandContext {
  store: Store;
  /** The instance name, recorded as the component that registered the user. */
  instance: string;
  /** Called after a commit so the relay moves the event now rather than at its next poll. */
  committed: () => void;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

export async function registerUser(
  ctx: CommandContext,
  input: RegisterUser,
  meta: { idempotencyKey?: string | undefined; trace: TraceContext },
): Promise<CommandResult> {
  if (input.email !== undefined && !isValidEmail(input.email)) {
    throw new AppError(400, UsersErrors.INVALID_EMAIL, `"${input.email.slice(0, 254)}" is not a valid email address`);
  }
  const key = meta.idempotencyKey;
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new AppError(400, UsersErrors.INVALID_IDEMPOTENCY_KEY, 'Idempotency-Key must be 1-200 printable characters');
  }
  // The password never enters the fingerprint: that would store an unsalted digest of it.
  const fingerprint = sha256(
    JSON.stringify(['register', input.email ?? null, input.username ?? null, input.name ?? null]),
  );
  if (key !== undefined) {
    const earlier = await replay(ctx.store, key, fingerprint);
    if (earlier !== undefined) return earlier;
  }

  const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
  const user: UserRegistered = {
    id: randomUUID(),
    email: input.email ?? null,
    username: input.username ?? null,
    name: input.name ?? null,
    registeredBy: ctx.instance,
    registeredAt: Date.now(),
  };
  try {
    const result = await ctx.store.transaction(async (tx) => {
      // The key row goes first: a concurrent twin with the same key blocks on it and then replays.
      if (key !== undefined) {
        await tx.execute(
          'INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at) VALUES ($1, $2, 0, $3, $4)',
          [key, fingerprint, '{}', user.registeredAt],
        );
      }
      await tx.execute(
        `INSERT INTO users (id, email, email_key, username, username_key, name, password_hash, registered_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          user.id,
          user.email,
          user.email === null ? null : emailKey(user.email),
          user.username,
          user.username === null ? null : user.username.toLowerCase(),
          user.name,
          passwordHash,
          user.registeredBy,
          user.registeredAt,
        ],
      );
      const seq = await appendToOutbox(tx, USERS_STREAM, {
        id: randomUUID(),
        type: UserEvents.REGISTERED,
        data: user,
        headers: traceHeaders(meta.trace),
      });
      const response: CommandResult = {
        status: 201,
        body: { id: user.id, email: user.email, ...(user.username === null ? {} : { username: user.username }), seq },
      };
      if (key !== undefined) {
        await tx.execute('UPDATE idempotency_keys SET status = $1, body = $2 WHERE key = $3', [
          response.status,
          JSON.stringify(response.body),
          key,
        ]);
      }
      return response;
    });
    ctx.committed();
    return result;
  } catch (error) {
    if (!isAppError(error) || error.code !== StoreErrors.UNIQUE_VIOLATION) throw error;
    const columns = (error.details?.columns as string[] | undefined) ?? [];
    if (key !== undefined && columns.includes('key')) {
      const earlier = await replay(ctx.store, key, fingerprint);
      if (earlier !== undefined) return earlier;
    }
    if (columns.includes('username_key')) {
      throw new AppError(409, UsersErrors.USERNAME_TAKEN, `username ${input.username} is already registered`);
    }
    throw new AppError(409, UsersErrors.EMAIL_TAKEN, `email ${input.email} is already registered`);
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
