// Seed 000's two programs. `registration-commands` serves the HTTP routes: it queues registrations,
// asks the registrar for statuses over the bus and logs pings. `users-registrar` is the worker: it
// consumes the redundancy chain, the failure log and its replays, and answers status queries.
import { createBus } from '../../bus/create-bus.ts';
import { createService } from '../../kit/service.ts';
import { outboxMigrations, startOutboxRelay } from '../../store/outbox.ts';
import { openStore, type Program, type ProgramContext, serviceOptions } from '../program.ts';
import { loadRegistrationConfig } from './config.ts';
import { SimulatedFailure } from './registrar.ts';
import { startRequester } from './request-reply.ts';
import { registrationRoutes } from './routes.ts';
import { registrarMigrations, startRegistrar } from './worker.ts';

export const registrationCommands: Program = async (ctx) => {
  const config = loadRegistrationConfig(process.env);
  ctx.log.info({ config }, 'registration settings');
  const bus = await openRegistrationBus(ctx);
  const requester = startRequester(bus, { replyQueue: `registration.replies.${ctx.instance}`, log: ctx.log });
  ctx.shutdown.add('requester', () => requester.close());
  const service = createService(serviceOptions(ctx));
  registrationRoutes(service.app, { bus, requester, queryTimeoutMs: config.queryTimeoutMs });
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

export const usersRegistrar: Program = async (ctx) => {
  const config = loadRegistrationConfig(process.env);
  ctx.log.info({ config }, 'registration settings');
  // Named after the service, not the instance: every registrar instance shares seed 000's user table.
  const store = await openStore(ctx, ctx.service.name, [...outboxMigrations, ...registrarMigrations]);
  const bus = await openRegistrationBus(ctx);
  const relay = startOutboxRelay({ store, bus, log: ctx.log });
  ctx.shutdown.add('outbox relay', () => relay.close());
  const service = createService(serviceOptions(ctx));
  // Fault switch (PUT /_admin/faults/registration.stall-at {"value": "<component>"}): that component's
  // jobs wait, leased and unwritten, until the switch is cleared or the process dies — a SIGKILL then
  // kills the worker mid-job, deterministically.
  const registrar = startRegistrar({
    bus,
    store,
    instance: ctx.instance,
    log: ctx.log,
    config,
    committed: relay.notify,
    stalled: (component) => service.faults.get('registration.stall-at') === component,
  });
  ctx.shutdown.add('consumers', () => registrar.close());
  ctx.shutdown.add('http', () => service.close());
  return { url: await service.listen() };
};

/** openBus, with simulated failures logged as what they are rather than as bus errors. */
async function openRegistrationBus(ctx: ProgramContext) {
  const bus = await createBus(ctx.topology.bus, {
    onError: (error: unknown) => {
      if (error instanceof SimulatedFailure) ctx.log.info({ component: error.component }, error.message);
      else ctx.log.error({ err: error }, 'bus consumer error');
    },
  });
  ctx.shutdown.add('bus', () => bus.close());
  return bus;
}
