// registration-commands' HTTP routes: seed 000's public paths, forwarded unchanged by the gateway.
// A registration is accepted only once it is durably on the bus (202); a status lookup is a query sent
// over the bus to users-registrar; a ping is answered after it is in the ping log.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Bus } from '../../bus/bus.ts';
import { AppError } from '../../kit/errors.ts';
import { produceInSpan } from '../../kit/spans.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { emailKey, isValidEmail } from '../users/email.ts';
import { UsersErrors } from '../users/errors.ts';
import { Queues, type RegistrationJob, registrationJobId } from './chain.ts';
import { RegistrationErrors } from './errors.ts';
import { PING_FAILURES_STREAM, PINGS_STREAM, PingEvents, type PingLogged } from './events.ts';
import { allFlagsSet, FLAG_FIELDS, parseFailureFlags } from './flags.ts';
import type { RegistrationStatus } from './queries.ts';
import type { Requester } from './request-reply.ts';

// The seed's texts, read by its clients.
export const SEED_000 = {
  RECEIVED: 'Email received successfully',
  RECEIVED_LATE:
    'Email received successfully. We are experiencing latencies but we received your email and we will register you.',
  ECHO: 'Echo',
  PING_FAILURE: 'Ping failure received.',
} as const;

const FAILURE_UUID = /^[\x21-\x7e]{1,200}$/;

// The flags have no type here on purpose: parseFailureFlags reads booleans, numbers and strings alike
// (Fastify would otherwise coerce "False" to true, the seed's bug).
const registerSchema = {
  body: {
    type: 'object',
    required: ['email'],
    properties: {
      email: { type: 'string', maxLength: 254 },
      failure_uuid: { type: 'string' },
      [FLAG_FIELDS.principal]: {},
      [FLAG_FIELDS.redundancy1]: {},
      [FLAG_FIELDS.redundancy2]: {},
    },
  },
} as const;

interface RegisterBody {
  email: string;
  failure_uuid?: string;
  [flag: string]: unknown;
}

export interface RegistrationRoutesContext {
  bus: Pick<Bus, 'enqueue' | 'append'>;
  requester: Requester;
  queryTimeoutMs: number;
}

export function registrationRoutes(app: FastifyInstance, ctx: RegistrationRoutesContext) {
  app.post<{ Body: RegisterBody }>('/api/v1/users', { schema: registerSchema }, async (request, reply) => {
    const { email } = request.body;
    checkEmail(email);
    const failureUuid = request.body.failure_uuid ?? null;
    if (failureUuid !== null && !FAILURE_UUID.test(failureUuid)) {
      throw new AppError(
        400,
        RegistrationErrors.INVALID_FAILURE_UUID,
        'failure_uuid must be 1-200 printable characters',
      );
    }
    const flags = parseFailureFlags(request.body);
    const job: RegistrationJob = { email, flags, failureUuid, receivedAt: Date.now() };
    try {
      const id = registrationJobId(emailKey(email), failureUuid);
      await produceInSpan(`bus enqueue ${Queues.PRINCIPAL}`, { 'messaging.message.id': id }, () =>
        ctx.bus.enqueue(Queues.PRINCIPAL, job, { id, headers: traceHeaders(request.trace) }),
      );
    } catch (error) {
      // The seed answered success whatever its broker did; here the client learns nothing was stored.
      throw new AppError(503, RegistrationErrors.ENQUEUE_FAILED, 'the registration could not be queued; retry', {
        cause: error,
        retryable: true,
      });
    }
    reply.header('location', `/api/v1/users/status?email=${encodeURIComponent(email)}`);
    return reply.code(202).send({
      status: 'success',
      message: allFlagsSet(flags) ? SEED_000.RECEIVED_LATE : SEED_000.RECEIVED,
    });
  });

  app.get<{ Querystring: { email?: unknown } }>('/api/v1/users/status', async (request) => {
    const { email } = request.query;
    checkEmail(email);
    return ctx.requester.request<RegistrationStatus>(
      Queues.QUERIES,
      { email },
      { timeoutMs: ctx.queryTimeoutMs, headers: traceHeaders(request.trace) },
    );
  });

  app.get<{ Querystring: Record<string, unknown> }>('/ping', async (request) => {
    const flags = parseFailureFlags(request.query);
    const failed = allFlagsSet(flags);
    const ping: PingLogged = {
      ping_id: randomUUID(),
      ping_datetime: new Date().toISOString(),
      simulate_failure: flags.principal,
      simulate_failure_r1: flags.redundancy1,
      simulate_failure_r2: flags.redundancy2,
    };
    const event = { id: ping.ping_id, data: ping, headers: traceHeaders(request.trace) };
    try {
      await ctx.bus.append(PINGS_STREAM, [
        { ...event, type: failed ? PingEvents.FAILURE_RECEIVED : PingEvents.RECEIVED },
      ]);
      if (failed) await ctx.bus.append(PING_FAILURES_STREAM, [{ ...event, type: PingEvents.FAILURE_RECEIVED }]);
    } catch (error) {
      throw new AppError(503, RegistrationErrors.PING_LOG_UNAVAILABLE, 'the ping could not be logged; retry', {
        cause: error,
        retryable: true,
      });
    }
    return {
      status: 'success',
      message: failed ? SEED_000.PING_FAILURE : SEED_000.ECHO,
      ping_id: ping.ping_id,
      ping_datetime: ping.ping_datetime,
    };
  });
}

function checkEmail(email: unknown): asserts email is string {
  if (typeof email !== 'string' || !isValidEmail(email)) {
    throw new AppError(400, UsersErrors.INVALID_EMAIL, 'email must be a valid email address');
  }
}
