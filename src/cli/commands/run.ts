// `archlab run <program>`: one role as its own process (what the supervisor spawns, and what a
// container runs in a distributed deployment).
import path from 'node:path';
import { AppError } from '../../kit/errors.ts';
import { createLogger } from '../../kit/logger.ts';
import { installShutdown } from '../../kit/shutdown.ts';
import { startSpanFile } from '../../kit/spans.ts';
import { programs } from '../../services/programs.ts';
import { loadTopology } from '../../topology/loader.ts';
import type { ServiceSpec, Topology } from '../../topology/types.ts';
import { CliErrors, DEFAULT_DATA_DIR, parsePort, resolveTopologyFile, usage } from '../args.ts';

export interface RunOptions {
  program: string | undefined;
  instance?: string | undefined;
  port?: string | undefined;
  host?: string | undefined;
  data?: string | undefined;
  topology?: string | undefined;
}

/** The system's own roles (not declared as services): one instance each, named after the role. */
const SYSTEM_PROGRAMS = new Set(['gateway', 'monitor']);

function systemSpec(name: string, topology: Topology): ServiceSpec {
  return {
    name,
    program: name,
    kind: 'http',
    role: 'worker',
    instances: 1,
    redundancy: { type: 'none' },
    monitor: topology.monitor,
    env: {},
  };
}

export async function run(options: RunOptions): Promise<void> {
  const name = options.program;
  const load = name === undefined ? undefined : programs[name];
  if (name === undefined || load === undefined) {
    throw usage(`archlab run needs a program: ${Object.keys(programs).join(', ')}`);
  }
  const dataDir = path.resolve(options.data ?? DEFAULT_DATA_DIR);
  const topology = await loadTopology(resolveTopologyFile(options.topology), { dataDir });
  const service = SYSTEM_PROGRAMS.has(name)
    ? systemSpec(name, topology)
    : topology.services.find((s) => s.program === name || s.name === name);
  if (service === undefined) {
    throw new AppError(400, CliErrors.USAGE, `the topology declares no service running ${name}`);
  }
  const instance = options.instance ?? (SYSTEM_PROGRAMS.has(name) ? name : `${service.name}-1`);
  const log = createLogger({ bindings: { instance, service: service.name, role: service.role } });
  const shutdown = installShutdown(log);
  if (topology.tracing.spans) {
    const spans = startSpanFile({
      dataDir,
      service: service.name,
      instance,
      otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      rootSampleRatio: topology.tracing.rootSampleRatio,
    });
    shutdown.add('spans', () => spans.close()); // first added, so it runs last: after the last span
  }
  try {
    const program = await load();
    const started = await program({
      service,
      instance,
      host: options.host ?? (name === 'gateway' ? topology.gateway.host : '127.0.0.1'),
      port: parsePort(options.port) ?? (name === 'gateway' ? topology.gateway.port : 0),
      topology,
      dataDir,
      log,
      adminToken: process.env.ARCHLAB_ADMIN_TOKEN || undefined,
      shutdown,
    });
    log.info({ url: started.url, pid: process.pid }, 'listening');
    process.send?.({ type: 'listening', url: started.url });
  } catch (error) {
    log.error({ err: error }, 'failed to start');
    process.send?.({ type: 'failed', message: String((error as Error).message) });
    await shutdown.run('start failed', 1);
  }
}
