// `archlab run gateway`: reads the placement the supervisor wrote (service → instance URLs) and serves.
// The admin port comes from ARCHLAB_GATEWAY_ADMIN_PORT (the supervisor picks it) or the topology.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openBus, type Program } from '../services/program.ts';
import { createGateway } from './gateway.ts';

export const PLACEMENT_FILE = 'placement.json';

export interface Placement {
  services: Record<string, string[]>;
}

export const gatewayProgram: Program = async (ctx) => {
  const file = path.join(ctx.dataDir, PLACEMENT_FILE);
  const placement = JSON.parse(await readFile(file, 'utf8')) as Placement;
  const storeAndForward = ctx.topology.routes.some((route) => route.storeAndForward);
  const gateway = createGateway({
    topology: ctx.topology,
    placement: placement.services,
    log: ctx.log,
    instance: ctx.instance,
    host: ctx.host,
    port: ctx.port,
    bus: storeAndForward ? await openBus(ctx) : undefined,
    adminToken: ctx.adminToken,
    adminPort: Number(process.env.ARCHLAB_GATEWAY_ADMIN_PORT || ctx.topology.gateway.adminPort),
  });
  ctx.shutdown.add('gateway', () => gateway.close());
  const url = await gateway.listen();
  ctx.log.info({ admin: gateway.adminUrl }, 'gateway admin port');
  return { url };
};
