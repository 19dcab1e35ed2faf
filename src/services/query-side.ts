// The query side every CQRS service shares, as one Program factory: the read model, its projector
// and the HTTP service with readiness. Apart from program.ts so the gateway does not load Fastify.
import type { FastifyInstance } from 'fastify';
import type { StreamEvent } from '../bus/bus.ts';
import { type Projector, projectorMigrations, startProjector } from '../kit/projector.ts';
import { createService } from '../kit/service.ts';
import type { Migration, Queryable, Store } from '../store/store.ts';
import { openBus, openStore, type Program, serviceOptions } from './program.ts';

export interface QuerySideOptions {
  /** Names the read model's position row. */
  projection: string;
  stream: string;
  migrations: readonly Migration[];
  apply: (tx: Queryable, event: StreamEvent) => Promise<void>;
  routes: (app: FastifyInstance, store: Store, projector: Projector) => void;
}

/**
 * A query-side program: each instance owns its read model (a store named after the instance, so
 * replicas never share one), projected from one stream; it reports ready only once caught up.
 */
export function querySide(options: QuerySideOptions): Program {
  return async (ctx) => {
    const store = await openStore(ctx, ctx.instance, [...projectorMigrations, ...options.migrations]);
    const bus = await openBus(ctx);
    const projector = await startProjector({
      name: options.projection,
      stream: options.stream,
      bus,
      store,
      log: ctx.log,
      apply: options.apply,
    });
    ctx.shutdown.add('projector', () => projector.close());
    const service = createService({
      ...serviceOptions(ctx),
      readiness: () => ({ ready: projector.ready(), position: projector.position() }),
    });
    options.routes(service.app, store, projector);
    ctx.shutdown.add('http', () => service.close());
    return { url: await service.listen() };
  };
}
