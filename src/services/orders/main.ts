// The orders programs: `orders-commands` (write model with its own replicas of users and products,
// outbox relay, the dispatcher that turns placed orders into jobs, the sweeper that requeues dead
// ones) and `orders-queries` (read model projected from the orders stream). The worker is worker.ts.
import { projectorMigrations, startProjector } from '../../kit/projector.ts';
import { createService } from '../../kit/service.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import { PRODUCTS_STREAM } from '../products/events.ts';
import { openBus, openStore, type Program, serviceOptions, startRelay } from '../program.ts';
import { querySide } from '../query-side.ts';
import { USERS_STREAM } from '../users/events.ts';
import { ordersConfig } from './config.ts';
import { startDispatcher, startSweeper } from './dispatch.ts';
import { ORDERS_STREAM } from './events.ts';
import { applyOrderEvent } from './projection.ts';
import { applyProductToReplica, applyUserToReplica } from './replicas.ts';
import { commandRoutes, queryRoutes } from './routes.ts';

const commandMigrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const queryMigrations = loadMigrations(new URL('./migrations/queries/', import.meta.url));

export const ordersCommands: Program = async (ctx) => {
  const config = ordersConfig();
  const store = await openStore(ctx, ctx.service.name, [
    ...outboxMigrations,
    ...projectorMigrations,
    ...commandMigrations,
  ]);
  const bus = await openBus(ctx);
  const replica = (name: string, stream: string, apply: typeof applyUserToReplica) =>
    startProjector({ name, stream, bus, store, log: ctx.log, apply });
  const users = await replica('users-replica', USERS_STREAM, applyUserToReplica);
  ctx.shutdown.add('users replica', () => users.close());
  const products = await replica('products-replica', PRODUCTS_STREAM, applyProductToReplica);
  ctx.shutdown.add('products replica', () => products.close());

  // Ready once both replicas caught up, so a fresh instance does not refuse orders for users it has
  // not seen yet; the readiness carries no position (two streams are followed).
  const service = createService({
    ...serviceOptions(ctx),
    readiness: () => ({ ready: users.ready() && products.ready() }),
  });
  const relay = startRelay(ctx, store, bus, service.faults);
  const dispatcher = startDispatcher({ bus });
  ctx.shutdown.add('dispatcher', () => dispatcher.close());
  const sweeper = startSweeper({ bus, store, log: ctx.log, intervalMs: config.sweepIntervalMs });
  ctx.shutdown.add('sweeper', () => sweeper.close());

  commandRoutes(
    service.app,
    { store, bus, instance: ctx.instance, committed: relay.notify, replicas: { users, products } },
    ctx.adminToken,
  );
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

export const ordersQueries: Program = querySide({
  projection: 'orders',
  stream: ORDERS_STREAM,
  migrations: queryMigrations,
  apply: applyOrderEvent,
  routes: queryRoutes,
});
