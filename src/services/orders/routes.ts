// HTTP routes of the orders service. Public paths are seed 004's (the gateway forwards them
// unchanged); /internal is the worker's settle command and is never routed by the gateway.
import type { FastifyInstance } from 'fastify';
import { AppError, KitErrors } from '../../kit/errors.ts';
import { waitForMinSeq } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { Store } from '../../store/store.ts';
import { idempotencyKey } from '../idempotency.ts';
import { linkNext, parsePage, serviceTokenHook } from '../products/http.ts';
import {
  type OrdersCommandContext,
  type PlaceOrder,
  placeOrder,
  type ReplicaHints,
  type Settlement,
  settleOrder,
} from './commands.ts';
import { OrdersErrors } from './errors.ts';
import type { OrderState } from './events.ts';
import { getOrder, listOrders } from './queries.ts';

const id = { type: 'string', minLength: 1, maxLength: 100 } as const;
const seq = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

const placeSchema = {
  querystring: { type: 'object', properties: { usersSeq: seq, productsSeq: seq } },
  body: {
    type: 'object',
    required: ['user', 'product', 'quantity'],
    properties: { user: id, product: id, quantity: { type: 'integer', minimum: 1, maximum: 1e12 } },
  },
} as const;

const settleSchema = {
  params: { type: 'object', properties: { id } },
  body: {
    type: 'object',
    required: ['state'],
    properties: {
      state: { type: 'string', enum: ['completed', 'failed'] },
      reason: { type: 'string', enum: ['insufficient_stock', 'product_not_found'] },
    },
  },
} as const;

export function commandRoutes(app: FastifyInstance, ctx: OrdersCommandContext, serviceToken: string | undefined) {
  app.post<{ Body: PlaceOrder; Querystring: ReplicaHints }>(
    '/api-commands/orders',
    { schema: placeSchema },
    async (request, reply) => {
      const result = await placeOrder(ctx, request.body, request.query, {
        trace: request.trace,
        idempotencyKey: idempotencyKey(request.headers['idempotency-key']),
      });
      if (result.status === 202) reply.header('location', `/api-queries/orders/${result.body.id}`);
      return reply.code(result.status).send(result.body);
    },
  );

  app.register(async (internal) => {
    internal.addHook('onRequest', serviceTokenHook(serviceToken));
    internal.post<{ Params: { id: string }; Body: Settlement }>(
      '/internal/orders/:id/settlement',
      { schema: settleSchema },
      async (request, reply) => {
        const result = await settleOrder(ctx, request.params.id, request.body, { trace: request.trace });
        return reply.code(result.status).send(result.body);
      },
    );
  });
}

const STATES: readonly string[] = ['processing', 'completed', 'failed'] satisfies OrderState[];

export function queryRoutes(app: FastifyInstance, store: Store, projector: Projector, { minSeqTimeoutMs = 2000 } = {}) {
  app.addHook('preHandler', waitForMinSeq(projector, minSeqTimeoutMs));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-read-model-position', String(projector.position()));
  });

  app.get<{ Querystring: { limit?: string; cursor?: string; state?: string } }>(
    '/api-queries/orders',
    async (request, reply) => {
      const { limit, cursor } = parsePage(request.query);
      const { state } = request.query;
      if (state !== undefined && !STATES.includes(state)) {
        throw new AppError(400, KitErrors.VALIDATION_FAILED, `state must be one of ${STATES.join(', ')}`);
      }
      const page = await listOrders(store, { limit, cursor, state: state as OrderState | undefined });
      linkNext(reply, '/api-queries/orders', limit, page.nextCursor, state === undefined ? '' : `&state=${state}`);
      return page.orders;
    },
  );

  app.get<{ Params: { id: string } }>('/api-queries/orders/:id', async (request) => {
    const order = await getOrder(store, request.params.id);
    if (order === undefined) throw new AppError(404, OrdersErrors.ORDER_NOT_FOUND, `no order ${request.params.id}`);
    return order;
  });
}
