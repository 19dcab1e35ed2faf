// `archlab run gateway`: reads the placement the supervisor wrote (instances, spares, the monitor) and
// serves. The admin port comes from ARCHLAB_GATEWAY_ADMIN_PORT (the supervisor picks it) or the topology.
import { openBus, type Program } from '../services/program.ts';
import { readPlacement, sparesOf } from '../topology/placement.ts';
import { createGateway } from './gateway.ts';

export const gatewayProgram: Program = async (ctx) => {
  const placement = await readPlacement(ctx.dataDir);
  const storeAndForward = ctx.topology.routes.some((route) => route.storeAndForward);
  const gateway = createGateway({
    topology: ctx.topology,
    placement: placement.services,
    spares: sparesOf(placement),
    monitorUrl: placement.monitor,
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
