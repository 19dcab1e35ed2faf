// The two users programs: `users-commands` (write model + outbox relay) and `users-queries` (read
// model projected from the users stream). Each runs as its own process.

import { createService } from '../../kit/service.ts';
import { loadMigrations } from '../../store/migrations.ts';
import { outboxMigrations, startOutboxRelay } from '../../store/outbox.ts';
import { openBus, openStore, type Program, serviceOptions } from '../program.ts';
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
  // Fault switches (PUT /_admin/faults/<name>, or ARCHLAB_FAULTS): relay.paused holds events in the
  // outbox; relay.crash-after-append kills the process between the bus append and the outbox update;
  // users.crash-on-invalid-email exits on a registration with an invalid email (seed 001's crash).
  const relay = startOutboxRelay({
    store,
    bus,
    log: ctx.log,
    hooks: {
      paused: () => service.faults.isOn('relay.paused'),
      afterAppend: () => {
        if (service.faults.isOn('relay.crash-after-append')) process.kill(process.pid, 'SIGKILL');
      },
    },
  });
  ctx.shutdown.add('outbox relay', () => relay.close());
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
