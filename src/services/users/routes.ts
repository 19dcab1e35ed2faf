// HTTP routes of the users service. Paths are the public ones: the gateway forwards them unchanged.
import type { FastifyInstance } from 'fastify';
import { AppError, isAppError, KitErrors } from '../../kit/errors.ts';
import { waitForMinSeq } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { TraceContext } from '../../kit/trace.ts';
import type { Store } from '../../store/store.ts';
import { type CommandContext, type RegisterUser, registerUser } from './commands.ts';
import { isValidEmail } from './email.ts';
import { UsersErrors } from './errors.ts';
import { emailRegistered, getUser, listUsers } from './queries.ts';

// Either an email and a password (archlab, seed 001), or a username alone (seed 004).
const registerSchema = {
  body: {
    type: 'object',
    properties: {
      email: { type: 'string', minLength: 3, maxLength: 254 },
      password: { type: 'string', minLength: 1, maxLength: 1024 },
      username: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
      name: { type: 'string', maxLength: 200 },
    },
  },
} as const;

// Seed 001 (SportApp) names the fields in Spanish and reads these messages.
const seed001RegisterSchema = {
  body: {
    type: 'object',
    required: ['correo', 'clave'],
    properties: {
      correo: { type: 'string', minLength: 3, maxLength: 254 },
      clave: { type: 'string', minLength: 1, maxLength: 1024 },
    },
  },
} as const;
const seed001CheckSchema = {
  body: {
    type: 'object',
    required: ['correo'],
    properties: { correo: { type: 'string', minLength: 3, maxLength: 254 } },
  },
} as const;
const SEED_001 = {
  REGISTERED: 'Usuario registrado exitosamente',
  REFUSED: 'No se puede registrar el usuario',
  EXISTS: 'El usuario ya existe',
  CAN_REGISTER: 'El usuario puede ser registrado',
} as const;

export function commandRoutes(
  app: FastifyInstance,
  ctx: CommandContext,
  options: { crashOnInvalidEmail?: () => boolean } = {},
) {
  app.post<{ Body: RegisterUser }>('/api-commands/users', { schema: registerSchema }, async (request, reply) => {
    const { email, password, username } = request.body;
    if (username === undefined && (email === undefined || password === undefined)) {
      throw new AppError(400, KitErrors.VALIDATION_FAILED, 'body must have email and password, or a username');
    }
    crashOnInvalidEmail(request.body.email);
    const result = await registerUser(
      ctx,
      request.body,
      idempotency(request.headers['idempotency-key'], request.trace),
    );
    if (result.status === 201) reply.header('location', `/api-queries/users/${result.body.id}`);
    return reply.code(result.status).send(result.body);
  });

  // Seed 001: POST /user-commands/users/register { correo, clave }.
  app.post<{ Body: { correo: string; clave: string } }>(
    '/user-commands/users/register',
    { schema: seed001RegisterSchema },
    async (request, reply) => {
      crashOnInvalidEmail(request.body.correo);
      try {
        const result = await registerUser(
          ctx,
          { email: request.body.correo, password: request.body.clave },
          idempotency(request.headers['idempotency-key'], request.trace),
        );
        return reply
          .code(result.status)
          .send({ message: SEED_001.REGISTERED, id: result.body.id, seq: result.body.seq });
      } catch (error) {
        if (isAppError(error) && error.code === UsersErrors.EMAIL_TAKEN) {
          throw new AppError(409, UsersErrors.EMAIL_TAKEN, SEED_001.REFUSED);
        }
        throw error;
      }
    },
  );

  /** Seed 001's crash trigger, as an opt-in fault: an invalid email makes the process exit. */
  function crashOnInvalidEmail(email: string | undefined) {
    if (email !== undefined && options.crashOnInvalidEmail?.() && !isValidEmail(email)) {
      app.log.fatal({ fault: 'users.crash-on-invalid-email' }, 'fault: exiting on an invalid email');
      process.exit(70);
    }
  }
}

function idempotency(header: string | string[] | undefined, trace: TraceContext) {
  return { idempotencyKey: Array.isArray(header) ? header[0] : header, trace };
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

  // Seed 001: POST /user-queries/users/check_user { correo } — advisory, like every query-side check.
  app.post<{ Body: { correo: string } }>(
    '/user-queries/users/check_user',
    { schema: seed001CheckSchema },
    async (request) => {
      const { correo } = request.body;
      if (!isValidEmail(correo))
        throw new AppError(400, UsersErrors.INVALID_EMAIL, `"${correo}" is not a valid email address`);
      const exists = await emailRegistered(store, correo);
      return { can_register: !exists, message: exists ? SEED_001.EXISTS : SEED_001.CAN_REGISTER };
    },
  );

  app.get<{ Params: { id: string } }>('/api-queries/users/:id', async (request) => {
    const user = await getUser(store, request.params.id);
    if (user === undefined) throw new AppError(404, UsersErrors.USER_NOT_FOUND, `no user ${request.params.id}`);
    return user;
  });
}
