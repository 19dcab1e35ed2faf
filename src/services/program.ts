// What every service program receives from `archlab run <program>`, and the helpers they share for
// opening their store and bus. Programs register their closers on ctx.shutdown (reverse order on exit).

import type { Bus } from '../bus/bus.ts';
import { createBus } from '../bus/create-bus.ts';
import type { Faults } from '../kit/faults.ts';
import type { Logger } from '../kit/logger.ts';
import type { ServiceOptions } from '../kit/service.ts';
import type { Shutdown } from '../kit/shutdown.ts';
import { createStore } from '../store/create-store.ts';
import { type Relay, startOutboxRelay } from '../store/outbox.ts';
import type { Migration, Store } from '../store/store.ts';
import { traceCommits } from '../store/traced.ts';
import type { ServiceSpec, Topology } from '../topology/types.ts';

export interface ProgramContext {
  service: ServiceSpec;
  /** `<service>-<n>` or `<service>-spare-<n>`. */
  instance: string;
  host: string;
  port: number;
  topology: Topology;
  /** Where this system keeps its files (stores, bus, logs, placement.json). */
  dataDir: string;
  log: Logger;
  adminToken: string | undefined;
  shutdown: Shutdown;
}

export interface RunningProgram {
  url: string;
}

export type Program = (ctx: ProgramContext) => Promise<RunningProgram>;

/** Opens (and migrates) the store namespace `name` and closes it on shutdown. */
export async function openStore(ctx: ProgramContext, name: string, migrations: readonly Migration[]): Promise<Store> {
  const store = traceCommits(await createStore(ctx.topology.store, { name }));
  ctx.shutdown.add(`store ${name}`, () => store.close());
  const applied = await store.migrate(migrations);
  ctx.log.info({ store: name, dialect: store.dialect, applied }, 'store open');
  return store;
}

export async function openBus(ctx: ProgramContext): Promise<Bus> {
  const bus = await createBus(ctx.topology.bus, {
    onError: (error: unknown) => ctx.log.error({ err: error }, 'bus subscription error; retrying'),
  });
  ctx.shutdown.add('bus', () => bus.close());
  return bus;
}

/** The createService options every program passes the same way. */
export function serviceOptions(ctx: ProgramContext): ServiceOptions {
  return {
    service: ctx.service.name,
    instance: ctx.instance,
    role: ctx.service.role,
    log: ctx.log,
    host: ctx.host,
    port: ctx.port,
    bodyLimitBytes: ctx.topology.gateway.bodyLimitBytes,
    adminToken: ctx.adminToken,
  };
}

/**
 * The command side's outbox relay with the standard fault switches (PUT /_admin/faults/<name>, or
 * ARCHLAB_FAULTS): relay.paused holds events in the outbox; relay.crash-after-append kills the process
 * between the bus append and the outbox update (a crash there must lose and duplicate nothing).
 */
export function startRelay(ctx: ProgramContext, store: Store, bus: Bus, faults: Faults): Relay {
  const relay = startOutboxRelay({
    store,
    bus,
    log: ctx.log,
    hooks: {
      paused: () => faults.isOn('relay.paused'),
      afterAppend: () => {
        if (faults.isOn('relay.crash-after-append')) process.kill(process.pid, 'SIGKILL');
      },
    },
  });
  ctx.shutdown.add('outbox relay', () => relay.close());
  return relay;
}
