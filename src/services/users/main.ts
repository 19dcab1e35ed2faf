// The two users programs: `users-commands` (write model + outbox relay) and `users-queries` (read
// model projected from the users stream). Each runs as its own process.

import { createService } from '../../kit/service.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations } from '../../store/outbox.ts';
import { openBus, openStore, type Program, serviceOptions, startRelay } from '../program.ts';
import { querySide } from '../query-side.ts';
import { USERS_STREAM } from './events.ts';
import { applyUserEvent } from './projection.ts';
import { commandRoutes, queryRoutes } from './routes.ts';

const commandMigrations = loadMigrations(new URL('./migrations/commands/', import.meta.url));
const queryMigrations = loadMigrations(new URL('./migrations/queries/', import.meta.url));

export const usersCommands: Program = async (ctx) => {
  const store = await openStore(ctx, ctx.service.name, [...outboxMigrations, ...commandMigrations]);
  const bus = await openBus(ctx);
  const service = createService(serviceOptions(ctx));
  // Besides the relay's switches, users.crash-on-invalid-email exits on a registration with an
  // invalid email (seed 001's crash).
  const relay = startRelay(ctx, store, bus, service.faults);
  commandRoutes(
    service.app,
    { store, instance: ctx.instance, committed: relay.notify },
    { crashOnInvalidEmail: () => service.faults.isOn('users.crash-on-invalid-email') },
  );
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

export const usersQueries: Program = querySide({
  projection: 'users',
  stream: USERS_STREAM,
  migrations: queryMigrations,
  apply: applyUserEvent,
  routes: queryRoutes,
});
