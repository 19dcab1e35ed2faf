// `archlab run gateway`: reads the placement the supervisor wrote (service → instance URLs) and serves.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Program } from '../services/program.ts';
import { createGateway } from './gateway.ts';

export const PLACEMENT_FILE = 'placement.json';

export interface Placement {
  services: Record<string, string[]>;
}

export const gatewayProgram: Program = async (ctx) => {
  const file = path.join(ctx.dataDir, PLACEMENT_FILE);
  const placement = JSON.parse(await readFile(file, 'utf8')) as Placement;
  const gateway = createGateway({
    topology: ctx.topology,
    placement: placement.services,
    log: ctx.log,
    instance: ctx.instance,
    host: ctx.host,
    port: ctx.port,
  });
  ctx.shutdown.add('gateway', () => gateway.close());
  return { url: await gateway.listen() };
};
