// Route table: the longest declared prefix that matches on a path-segment boundary wins
// (/api-queries/users matches /api-queries/users and /api-queries/users/7, not /api-queries/usersX),
// among the routes that take the request's method (a route without `methods` takes every method: seed
// 002 has POST /venta/:seller on the command side and GET /venta/:id on the query side).
import type { RouteSpec } from '../topology/types.ts';

export interface RouteMatch {
  route: RouteSpec;
  /** The path (with query string) to send upstream, after any rewrite. */
  upstreamPath: string;
}

export function createRouter(routes: readonly RouteSpec[]) {
  const byLength = routes.toSorted((a, b) => b.prefix.length - a.prefix.length);
  return function match(url: string, method = 'GET'): RouteMatch | undefined {
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    for (const route of byLength) {
      const { prefix } = route;
      const hit =
        prefix === '/' || (path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/'));
      if (!hit || (route.methods !== undefined && !route.methods.includes(method))) continue;
      if (route.rewrite === undefined) return { route, upstreamPath: url };
      const rest = prefix === '/' ? url : url.slice(prefix.length);
      const joined =
        route.rewrite.endsWith('/') && rest.startsWith('/') ? route.rewrite + rest.slice(1) : route.rewrite + rest;
      return { route, upstreamPath: joined.startsWith('/') ? joined : `/${joined}` };
    }
    return undefined;
  };
}
