import { createService } from '../../kit/service.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import { openBus, openStore, type Program, serviceOptions, startRelay } from '../program.ts';
import { querySide } from '../query-side.ts';
import { SALES_STREAM } from './events.ts';
import { applySalesEvent } from './projection.ts';
import { commandRoutes, queryRoutes } from './routes.ts';

const commandMigrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const queryMigrations = loadMigrations(new URL('./migrations/queries/', import.meta.url));

export const salesCommands: Program = async (ctx) => {
  const store = await openStore(ctx, ctx.service.name, [...outboxMigrations, ...commandMigrations]);
  const bus = await openBus(ctx);
  const service = createService(serviceOptions(ctx));
  const relay = startRelay(ctx, store, bus, service.faults);
  commandRoutes(service.app, { store, instance: ctx.instance, committed: relay.notify });
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

export const salesQueries: Program = querySide({
  projection: 'sales',
  stream: SALES_STREAM,
  migrations: queryMigrations,
  apply: applySalesEvent,
  routes: queryRoutes,
});
