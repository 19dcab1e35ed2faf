// `archlab run monitor`: pings every instance in data/placement.json (spares included) with its
// service's monitor settings, publishes each transition to the bus stream `monitor.events`, to
// <data>/monitor/events.jsonl and to its feed (GET /events), and serves GET /instances.
import path from 'node:path';
import { createService } from '../kit/service.ts';
import { openBus, type Program, serviceOptions } from '../services/program.ts';
import { readPlacement } from '../topology/placement.ts';
import { createMonitor, type MonitorTarget } from './monitor.ts';
import { createGrpcProbe } from './probes/grpc.ts';
import { createHttpProbe } from './probes/http.ts';
import { registerMonitorRoutes } from './routes.ts';
import { busSink, fileSink, textSink } from './sinks.ts';

export const EVENTS_FILE = path.join('monitor', 'events.jsonl');
/** The same transitions in seed 002's words ("Server: <url> is down", "Se cambio al servidor: <url>"). */
export const TEXT_FILE = path.join('logs', 'monitor.txt');

export const monitorProgram: Program = async (ctx) => {
  const placement = await readPlacement(ctx.dataDir);
  const settings = new Map(ctx.topology.services.map((service) => [service.name, service.monitor]));
  const targets: MonitorTarget[] = placement.instances.map((instance) => ({
    instance: instance.name,
    service: instance.service,
    url: instance.url,
    settings: settings.get(instance.service) ?? ctx.topology.monitor,
  }));
  // gRPC services answer the standard health check instead of GET /health.
  const grpcServices = new Set(ctx.topology.services.filter((s) => s.kind === 'grpc').map((s) => s.name));
  const probe = (target: MonitorTarget) =>
    grpcServices.has(target.service)
      ? createGrpcProbe(target.url, { timeoutMs: target.settings.timeoutMs })
      : createHttpProbe(target.url, { timeoutMs: target.settings.timeoutMs });
  const policies = new Map(ctx.topology.services.map((service) => [service.name, service.redundancy]));
  const textTargets = placement.instances.map((instance) => {
    const redundancy = policies.get(instance.service);
    const primaryBackup =
      (redundancy?.type === 'active' && redundancy.policy === 'primary-backup') || redundancy?.type === 'passive';
    return { instance: instance.name, service: instance.service, url: instance.url, primaryBackup };
  });
  const bus = await openBus(ctx);
  const service = createService(serviceOptions(ctx));
  const monitor = createMonitor({
    targets,
    log: ctx.log,
    registry: service.registry,
    probe,
    sinks: [
      busSink(bus, { log: ctx.log }),
      await fileSink(path.join(ctx.dataDir, EVENTS_FILE), { log: ctx.log }),
      await textSink(path.join(ctx.dataDir, TEXT_FILE), textTargets, { log: ctx.log }),
    ],
  });
  registerMonitorRoutes(service.app, monitor);
  // Closers run in reverse: the monitor stops and flushes its sinks to the bus first, then the HTTP
  // server ends the feeds and stops, then the bus (registered by openBus) closes.
  ctx.shutdown.add('http', () => service.close());
  ctx.shutdown.add('monitor', () => monitor.close());
  const url = await service.listen();
  monitor.start();
  return { url };
};
