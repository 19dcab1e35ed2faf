// HTTP routes of the products service. Public paths are seed 004's (the gateway forwards them
// unchanged); /internal is for the orders worker and is never routed by the gateway.
import type { FastifyInstance } from 'fastify';
import { AppError, KitErrors } from '../../kit/errors.ts';
import { waitForMinSeq } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { Store } from '../../store/store.ts';
import { idempotencyKey } from '../idempotency.ts';
import {
  createProduct,
  type NewProduct,
  type ProductPatch,
  type ProductsCommandContext,
  reserveStock,
  updateProduct,
} from './commands.ts';
import { ProductsErrors } from './errors.ts';
import { linkNext, parsePage, serviceTokenHook } from './http.ts';
import { MAX_CENTS } from './money.ts';
import { getProduct, listProducts } from './queries.ts';

// Quantities are integers; 10^12 keeps every sum far inside 2^53.
const MAX_UNITS = 1e12;
const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  value: { type: 'number', minimum: 0, maximum: MAX_CENTS / 100 },
  stock: { type: 'integer', minimum: 0, maximum: MAX_UNITS },
} as const;

const createSchema = {
  body: { type: 'object', required: ['name', 'description', 'value', 'stock'], properties: fields },
} as const;

const updateSchema = {
  params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
  body: {
    type: 'object',
    properties: { ...fields, version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } },
  },
} as const;

const reserveSchema = {
  params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
  body: {
    type: 'object',
    required: ['orderId', 'quantity'],
    properties: {
      orderId: { type: 'string', minLength: 1, maxLength: 100 },
      quantity: { type: 'integer', minimum: 1, maximum: MAX_UNITS },
    },
  },
} as const;

export function commandRoutes(app: FastifyInstance, ctx: ProductsCommandContext, serviceToken: string | undefined) {
  app.post<{ Body: NewProduct }>('/api-commands/products', { schema: createSchema }, async (request, reply) => {
    const result = await createProduct(ctx, request.body, {
      trace: request.trace,
      idempotencyKey: idempotencyKey(request.headers['idempotency-key']),
    });
    if (result.status === 201) reply.header('location', `/api-queries/products/${result.body.id}`);
    return reply.code(result.status).send(result.body);
  });

  app.put<{ Params: { id: string }; Body: ProductPatch & { version?: number } }>(
    '/api-commands/products/:id',
    { schema: updateSchema },
    async (request, reply) => {
      const { version, ...patch } = request.body;
      const expected = version ?? ifMatchVersion(request.headers['if-match']);
      const result = await updateProduct(ctx, request.params.id, patch, expected, { trace: request.trace });
      reply.header('etag', `"${result.body.version}"`);
      return reply.code(result.status).send(result.body);
    },
  );

  app.register(async (internal) => {
    internal.addHook('onRequest', serviceTokenHook(serviceToken));
    internal.post<{ Params: { id: string }; Body: { orderId: string; quantity: number } }>(
      '/internal/products/:id/reservations',
      { schema: reserveSchema },
      async (request, reply) => {
        const reservation = await reserveStock(ctx, request.params.id, request.body, { trace: request.trace });
        return reply.code(reservation.replayed ? 200 : 201).send(reservation);
      },
    );
  });
}

/** If-Match: "3", W/"3" or 3 → 3; absent → undefined. */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (match === null) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, 'If-Match must be a product version, e.g. "3"');
  }
  return Number(match[1]);
}

export function queryRoutes(app: FastifyInstance, store: Store, projector: Projector, { minSeqTimeoutMs = 2000 } = {}) {
  app.addHook('preHandler', waitForMinSeq(projector, minSeqTimeoutMs));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-read-model-position', String(projector.position()));
  });

  app.get<{ Querystring: { limit?: string; cursor?: string } }>('/api-queries/products', async (request, reply) => {
    const { limit, cursor } = parsePage(request.query);
    const page = await listProducts(store, { limit, cursor });
    linkNext(reply, '/api-queries/products', limit, page.nextCursor);
    return page.products;
  });

  app.get<{ Params: { id: string } }>('/api-queries/products/:id', async (request, reply) => {
    const product = await getProduct(store, request.params.id);
    if (product === undefined) {
      throw new AppError(404, ProductsErrors.PRODUCT_NOT_FOUND, `no product ${request.params.id}`);
    }
    reply.header('etag', `"${product.version}"`);
    return product;
  });
}
