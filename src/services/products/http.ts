// HTTP helpers the products and orders routes share: the service token on /internal routes, and
// list paging (a plain array body; the next page is a Link header, as the users service does).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, KitErrors } from '../../kit/errors.ts';

/**
 * onRequest hook for /internal routes (service-to-service commands the gateway never routes): with a
 * token configured (the system's admin token, which the supervisor gives every instance), callers
 * must send `Authorization: Bearer <token>`. Without one (a bare `archlab run`) they are open.
 */
export function serviceTokenHook(token: string | undefined) {
  const expected = token ? Buffer.from(`Bearer ${token}`) : undefined;
  return async function serviceToken(request: FastifyRequest) {
    if (expected === undefined) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError(401, KitErrors.UNAUTHORIZED, 'internal route: service token missing or wrong');
    }
  };
}

export const MAX_PAGE = 500;

/** `limit` (1..MAX_PAGE, default 100) and `cursor` (a seq from a previous page, default 0). */
export function parsePage(query: { limit?: string | undefined; cursor?: string | undefined }) {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, `limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  const cursor = query.cursor === undefined ? 0 : Number(query.cursor);
  if (!Number.isSafeInteger(cursor) || cursor < 0) {
    throw new AppError(400, KitErrors.VALIDATION_FAILED, 'cursor must come from a previous page');
  }
  return { limit, cursor };
}

/** Points a Link header at the next page when there is one. */
export function linkNext(reply: FastifyReply, path: string, limit: number, nextCursor: number | undefined, extra = '') {
  if (nextCursor !== undefined)
    reply.header('link', `<${path}?limit=${limit}&cursor=${nextCursor}${extra}>; rel="next"`);
}
