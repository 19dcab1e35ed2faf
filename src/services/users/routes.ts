// HTTP routes of the users service. Paths are the public ones: the gateway forwards them unchanged.
import type { FastifyInstance } from 'fastify';
import { AppError, KitErrors } from '../../kit/errors.ts';
import { waitForMinSeq } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { Store } from '../../store/store.ts';
import { type CommandContext, type RegisterUser, registerUser } from './commands.ts';
import { isValidEmail } from './email.ts';
import { UsersErrors } from './errors.ts';
import { emailRegistered, getUser, listUsers } from './queries.ts';

const registerSchema = {
  body: {
    type: 'object',
    required: ['email', 'password'],
    properties: {
      email: { type: 'string', minLength: 3, maxLength: 254 },
      password: { type: 'string', minLength: 1, maxLength: 1024 },
      name: { type: 'string', maxLength: 200 },
    },
  },
} as const;

export function commandRoutes(
  app: FastifyInstance,
  ctx: CommandContext,
  options: { crashOnInvalidEmail?: () => boolean } = {},
) {
  app.post<{ Body: RegisterUser }>('/api-commands/users', { schema: registerSchema }, async (request, reply) => {
    // Seed 001's crash trigger, as an opt-in fault: an invalid email makes the process exit.
    if (options.crashOnInvalidEmail?.() && !isValidEmail(request.body.email ?? '')) {
      request.log.fatal({ fault: 'users.crash-on-invalid-email' }, 'fault: exiting on an invalid email');
      process.exit(70);
    }
    const key = request.headers['idempotency-key'];
    const result = await registerUser(ctx, request.body, {
      idempotencyKey: Array.isArray(key) ? key[0] : key,
      trace: request.trace,
    });
    if (result.status === 201) reply.header('location', `/api-queries/users/${result.body.id}`);
    return reply.code(result.status).send(result.body);
  });
}

const MAX_PAGE = 500;

export function queryRoutes(app: FastifyInstance, store: Store, projector: Projector, { minSeqTimeoutMs = 2000 } = {}) {
  app.addHook('preHandler', waitForMinSeq(projector, minSeqTimeoutMs));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-read-model-position', String(projector.position()));
  });

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/api-queries/users', async (request, reply) => {
    const limit = request.query.limit === undefined ? 100 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new AppError(400, KitErrors.VALIDATION_FAILED, `limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    const cursor = request.query.cursor === undefined ? 0 : Number(request.query.cursor);
    if (!Number.isSafeInteger(cursor) || cursor < 0) {
      throw new AppError(400, UsersErrors.INVALID_CURSOR, 'cursor must come from a previous page');
    }
    const page = await listUsers(store, { limit, cursor });
    // The body stays a plain array (what the seed systems' clients read); the next page is a Link.
    if (page.nextCursor !== undefined) {
      reply.header('link', `</api-queries/users?limit=${limit}&cursor=${page.nextCursor}>; rel="next"`);
    }
    return page.users;
  });

  app.get<{ Querystring: { email?: string } }>('/api-queries/users/check', async (request) => {
    const { email } = request.query;
    if (typeof email !== 'string' || !isValidEmail(email)) {
      throw new AppError(400, UsersErrors.INVALID_EMAIL, 'query parameter email must be a valid email address');
    }
    return { email, canRegister: !(await emailRegistered(store, email)) };
  });

  app.get<{ Params: { id: string } }>('/api-queries/users/:id', async (request) => {
    const user = await getUser(store, request.params.id);
    if (user === undefined) throw new AppError(404, UsersErrors.USER_NOT_FOUND, `no user ${request.params.id}`);
    return user;
  });
}
