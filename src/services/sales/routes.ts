// HTTP routes of the sales service (seed 002). The service serves the seed's paths without the
// gateway's `/api` prefix; a topology route such as `{ prefix: /api/ventas, rewrite: /ventas }` adds it.
//   command side: POST /vendedor, PUT /vendedor/:id, DELETE /vendedor/:id, POST /venta/:id_vendedor
//   query side:   GET /ventas, GET /venta/:id, GET /vendedores, GET /vendedores/:id
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { AppError, KitErrors } from '../../kit/errors.ts';
import { waitForMinSeq } from '../../kit/min-seq.ts';
import type { Projector } from '../../kit/projector.ts';
import type { TraceContext } from '../../kit/trace.ts';
import type { Store } from '../../store/store.ts';
import {
  type CommandContext,
  deleteSeller,
  recordSale,
  registerSeller,
  type SaleInput,
  type SellerInput,
  updateSeller,
} from './commands.ts';
import { SalesErrors } from './errors.ts';
import { TIPOS_DOCUMENTO } from './events.ts';
import { parseId } from './identifiers.ts';
import { getSale, getSeller, listSales, listSellers } from './queries.ts';

// Bodies are checked without type coercion: Fastify's default would take `"cantidad": true` as 1 and
// `"cantidad": "3"` as 3, and a quantity must be a JSON integer.
const strict = new Ajv({ allErrors: true, coerceTypes: false });
const validatorCompiler = ({ schema }: { schema: FastifySchema }) => strict.compile(schema);

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength, pattern: '\\S' }) as const;

const sellerSchema = {
  body: {
    type: 'object',
    required: ['nombre', 'apellido', 'tipo_documento', 'numero_documento', 'telefono'],
    properties: {
      nombre: text(100),
      apellido: text(100),
      tipo_documento: { type: 'string', enum: TIPOS_DOCUMENTO },
      // Digits and letters (passports), optionally grouped with spaces, dots or hyphens.
      numero_documento: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 .-]{0,31}$' },
      telefono: { type: 'string', pattern: '^\\+?[0-9][0-9 ()-]{2,31}$' },
    },
  },
} as const;

const saleSchema = {
  body: {
    type: 'object',
    required: ['producto', 'cantidad', 'cliente'],
    properties: {
      producto: text(200),
      // Whole units; the bound keeps any sum of a few million sales inside exact integers.
      cantidad: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
      cliente: text(200),
    },
  },
} as const;

export function commandRoutes(app: FastifyInstance, ctx: CommandContext) {
  app.post<{ Body: SellerInput }>('/vendedor', { schema: sellerSchema, validatorCompiler }, async (request, reply) => {
    const result = await registerSeller(ctx, request.body, meta(request.headers['idempotency-key'], request.trace));
    return reply.code(result.status).send(result.body);
  });

  app.put<{ Params: { id: string }; Body: SellerInput }>(
    '/vendedor/:id',
    { schema: sellerSchema, validatorCompiler },
    async (request, reply) => {
      const id = sellerId(request.params.id);
      const result = await updateSeller(ctx, id, request.body, meta(request.headers['idempotency-key'], request.trace));
      return reply.code(result.status).send(result.body);
    },
  );

  app.delete<{ Params: { id: string } }>('/vendedor/:id', async (request, reply) => {
    const id = sellerId(request.params.id);
    const result = await deleteSeller(ctx, id, meta(request.headers['idempotency-key'], request.trace));
    return reply.code(result.status).send(result.body);
  });

  app.post<{ Params: { id_vendedor: string }; Body: SaleInput }>(
    '/venta/:id_vendedor',
    { schema: saleSchema, validatorCompiler },
    async (request, reply) => {
      const seller = sellerId(request.params.id_vendedor);
      const result = await recordSale(
        ctx,
        seller,
        request.body,
        meta(request.headers['idempotency-key'], request.trace),
      );
      return reply.code(result.status).send(result.body);
    },
  );
}

function meta(header: string | string[] | undefined, trace: TraceContext) {
  return { idempotencyKey: Array.isArray(header) ? header[0] : header, trace };
}

function sellerId(text: string): number {
  const id = parseId(text);
  if (id === undefined) throw new AppError(404, SalesErrors.SELLER_NOT_FOUND, `no seller ${text.slice(0, 40)}`);
  return id;
}

const MAX_PAGE = 500;

export function queryRoutes(app: FastifyInstance, store: Store, projector: Projector, { minSeqTimeoutMs = 2000 } = {}) {
  app.addHook('preHandler', waitForMinSeq(projector, minSeqTimeoutMs));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-read-model-position', String(projector.position()));
  });

  // The seed answered GET /ventas with every sale; archlab answers pages of `limit` (default 100) and
  // points at the next one in a Link header, so the body stays the seed's plain array.
  app.get<{ Querystring: PageQuery }>('/ventas', async (request, reply) => {
    const query = pageQuery(request.query);
    const page = await listSales(store, query);
    if (page.nextCursor !== undefined) nextLink(reply, '/ventas', query.limit, page.nextCursor);
    return page.items;
  });

  app.get<{ Params: { id: string } }>('/venta/:id', async (request) => {
    const id = parseId(request.params.id);
    const sale = id === undefined ? undefined : await getSale(store, id);
    if (sale === undefined) {
      throw new AppError(404, SalesErrors.SALE_NOT_FOUND, `no sale ${request.params.id.slice(0, 40)}`);
    }
    return sale;
  });

  app.get<{ Querystring: PageQuery }>('/vendedores', async (request, reply) => {
    const query = pageQuery(request.query);
    const page = await listSellers(store, query);
    if (page.nextCursor !== undefined) nextLink(reply, '/vendedores', query.limit, page.nextCursor);
    return page.items;
  });

  // Plural on purpose: /vendedor/:id belongs to the command side (PUT, DELETE), and gateway routes
  // choose a service by path prefix.
  app.get<{ Params: { id: string } }>('/vendedores/:id', async (request) => {
    const id = parseId(request.params.id);
    const seller = id === undefined ? undefined : await getSeller(store, id);
    if (seller === undefined) {
      throw new AppError(404, SalesErrors.SELLER_NOT_FOUND, `no seller ${request.params.id.slice(0, 40)}`);
    }
    return seller;
  });
}

type PageQuery = { limit?: string; cursor?: string };

function pageQuery(query: PageQuery): { limit: number; cursor: number } {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, `limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  const cursor = query.cursor === undefined ? 0 : Number(query.cursor);
  if (!Number.isSafeInteger(cursor) || cursor < 0) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, 'cursor must be the last id of a previous page');
  }
  return { limit, cursor };
}

/**
 * The Link is relative to this service's path; behind a rewriting gateway route (/api/ventas →
 * /ventas) clients resolve it against the path they called, so it names no prefix.
 */
function nextLink(
  reply: { header(name: string, value: string): unknown },
  path: string,
  limit: number,
  cursor: number,
) {
  reply.header('link', `<${path.slice(1)}?limit=${limit}&cursor=${cursor}>; rel="next"`);
}
