// `archlab up`: start the whole system from the topology and keep it running until Ctrl-C.
import path from 'node:path';
import { createLogger, prettyDestination } from '../../kit/logger.ts';
import { startSupervisor } from '../../supervisor/supervisor.ts';
import { loadTopology } from '../../topology/loader.ts';
import { DEFAULT_DATA_DIR, parsePort, resolveTopologyFile } from '../args.ts';

export interface UpOptions {
  topology?: string | undefined;
  data?: string | undefined;
  port?: string | undefined;
}

export async function up(options: UpOptions): Promise<void> {
  const dataDir = path.resolve(options.data ?? DEFAULT_DATA_DIR);
  const topologyFile = resolveTopologyFile(options.topology);
  const topology = await loadTopology(topologyFile, { dataDir });
  const gatewayPort = parsePort(options.port);
  const log = createLogger({
    bindings: { instance: 'supervisor', service: 'supervisor' },
    destination: process.stdout.isTTY ? prettyDestination() : undefined,
  });
  log.info({ topology: topologyFile, dataDir, store: topology.store, bus: topology.bus }, 'starting');

  const supervisor = await startSupervisor({ topology, topologyFile, dataDir, log, gatewayPort });
  const instances = supervisor.instances();
  for (const i of instances) log.info({ childPid: i.pid, url: i.url }, `  ${i.name.padEnd(24)} ${i.role}`);
  log.info(
    { gateway: supervisor.gatewayUrl, logs: path.join(dataDir, 'logs') },
    `archlab is up: gateway ${supervisor.gatewayUrl}, ${instances.length} processes; Ctrl-C stops`,
  );

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'stopping');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      supervisor.stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
