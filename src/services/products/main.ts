// The two products programs: `products-commands` (write model, stock reservations, outbox relay) and
// `products-queries` (read model projected from the products stream). Each runs as its own process.
import { projectorMigrations, startProjector } from '../../kit/projector.ts';
import { createService } from '../../kit/service.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations, startOutboxRelay } from '../../store/outbox.ts';
import { openBus, openStore, type Program, serviceOptions } from '../program.ts';
import { PRODUCTS_STREAM } from './events.ts';
import { applyProductEvent } from './projection.ts';
import { commandRoutes, queryRoutes } from './routes.ts';

const commandMigrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const queryMigrations = loadMigrations(new URL('./migrations/queries/', import.meta.url));

export const productsCommands: Program = async (ctx) => {
  const store = await openStore(ctx, ctx.service.name, [...outboxMigrations, ...commandMigrations]);
  const bus = await openBus(ctx);
  const service = createService(serviceOptions(ctx));
  // relay.paused holds events in the outbox (PUT /_admin/faults/relay.paused, or ARCHLAB_FAULTS).
  const relay = startOutboxRelay({
    store,
    bus,
    log: ctx.log,
    hooks: { paused: () => service.faults.isOn('relay.paused') },
  });
  ctx.shutdown.add('outbox relay', () => relay.close());
  commandRoutes(service.app, { store, instance: ctx.instance, committed: relay.notify }, ctx.adminToken);
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

export const productsQueries: Program = async (ctx) => {
  // Each query instance owns its read model (store named after the instance), so replicas never share one.
  const store = await openStore(ctx, ctx.instance, [...projectorMigrations, ...queryMigrations]);
  const bus = await openBus(ctx);
  const projector = await startProjector({
    name: 'products',
    stream: PRODUCTS_STREAM,
    bus,
    store,
    log: ctx.log,
    apply: applyProductEvent,
  });
  ctx.shutdown.add('projector', () => projector.close());
  const service = createService({
    ...serviceOptions(ctx),
    readiness: () => ({ ready: projector.ready(), position: projector.position() }),
  });
  queryRoutes(service.app, store, projector);
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};
