// The supervisor: turns the topology into OS processes (every service instance, then the gateway),
// restarts any that exits with backoff, and stops them all — SIGTERM, then SIGKILL after a grace
// period — when asked. It keeps run.json in the data directory current for the CLI.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PLACEMENT_FILE, type Placement } from '../gateway/main.ts';
import { AppError } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { freePort } from '../kit/ports.ts';
import type { Topology } from '../topology/types.ts';
import { SupervisorErrors } from './errors.ts';
import { type ChildMessage, type ManagedProcess, spawnInstance } from './processes.ts';
import { DEFAULT_RESTART, failuresAfterExit, type RestartPolicy, restartDelayMs } from './restart.ts';
import { createAdminToken, type InstanceStatus, writeRunFile } from './run-file.ts';

export interface SupervisorOptions {
  topology: Topology;
  topologyFile: string;
  dataDir: string;
  log: Logger;
  /** Gateway port; 0 lets the OS choose (tests). Default: the topology's. */
  gatewayPort?: number;
  restart?: RestartPolicy;
  /** How long a starting instance may take to report its address. */
  startTimeoutMs?: number;
  stopGraceMs?: number;
}

export interface Supervisor {
  readonly gatewayUrl: string;
  instances(): InstanceStatus[];
  /** Stops every process; resolves when all have exited. */
  stop(): Promise<void>;
}

interface Instance {
  status: InstanceStatus;
  env: Record<string, string>;
  process: ManagedProcess | undefined;
  failures: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  listening: ((url: string) => void) | undefined;
}

export async function startSupervisor(options: SupervisorOptions): Promise<Supervisor> {
  const { topology, log } = options;
  const dataDir = path.resolve(options.dataDir);
  const policy = options.restart ?? DEFAULT_RESTART;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  mkdirSync(dataDir, { recursive: true });
  lockDataDir(dataDir);
  const token = await createAdminToken(dataDir);
  const startedAt = new Date().toISOString();
  let stopping = false;
  let gatewayUrl: string | null = null;

  const instances: Instance[] = [];
  for (const service of topology.services) {
    for (let n = 1; n <= service.instances; n++) {
      const port = await freePort();
      instances.push(
        newInstance(
          {
            name: `${service.name}-${n}`,
            service: service.name,
            program: service.program,
            role: service.role,
            port,
            url: `http://127.0.0.1:${port}`,
          },
          service.env,
        ),
      );
    }
  }
  const placement: Placement = { services: {} };
  for (const { status } of instances) {
    placement.services[status.service] = [...(placement.services[status.service] ?? []), status.url];
  }
  writeFileSync(path.join(dataDir, PLACEMENT_FILE), `${JSON.stringify(placement, null, 2)}\n`);

  // The gateway's admin port is chosen once, so a restarted gateway answers where run.json says.
  const gatewayAdminPort = topology.gateway.adminPort || (await freePort());
  const gatewayAdmin = `http://127.0.0.1:${gatewayAdminPort}`;
  const gateway = newInstance(
    {
      name: 'gateway',
      service: 'gateway',
      program: 'gateway',
      role: 'gateway',
      port: options.gatewayPort ?? topology.gateway.port,
      url: '',
    },
    { ARCHLAB_GATEWAY_ADMIN_PORT: String(gatewayAdminPort) },
  );

  function newInstance(
    fields: Omit<InstanceStatus, 'pid' | 'state' | 'restarts'>,
    env: Record<string, string>,
  ): Instance {
    return {
      status: { ...fields, pid: null, state: 'starting', restarts: 0 },
      env,
      process: undefined,
      failures: 0,
      startedAt: 0,
      restartTimer: undefined,
      listening: undefined,
    };
  }

  // Saves are chained so two never race on the temporary file; each writes the state as it is then.
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    saving = saving
      .then(() =>
        writeRunFile(dataDir, {
          supervisorPid: process.pid,
          startedAt,
          dataDir,
          topology: options.topologyFile,
          gateway: gatewayUrl,
          gatewayAdmin,
          instances: [...instances, gateway].map((i) => i.status),
        }),
      )
      .catch((error: unknown) => log.error({ err: error }, 'could not write run.json'));
    return saving;
  };

  function launch(instance: Instance) {
    const { status } = instance;
    instance.startedAt = Date.now();
    status.state = 'starting';
    const child = spawnInstance(
      {
        name: status.name,
        program: status.program,
        port: status.port,
        dataDir,
        topologyFile: options.topologyFile,
        env: { ...instance.env, ARCHLAB_ADMIN_TOKEN: token },
      },
      (message: ChildMessage) => {
        if (message.type === 'listening') {
          status.state = 'running';
          if (status.name === 'gateway') gatewayUrl = message.url;
          status.url = message.url;
          log.info({ child: status.name, childPid: status.pid, url: message.url }, `${status.name} running`);
          instance.listening?.(message.url);
          void save();
        }
      },
    );
    instance.process = child;
    status.pid = child.pid ?? null;
    void save();
    void child.exited.then(({ code, signal }) => onExit(instance, child, code, signal));
  }

  function onExit(instance: Instance, child: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) {
    if (instance.process !== child) return;
    const { status } = instance;
    instance.process = undefined;
    status.pid = null;
    if (stopping) {
      status.state = 'stopped';
      void save();
      return;
    }
    instance.failures = failuresAfterExit(instance.failures, Date.now() - instance.startedAt, policy);
    const delayMs = restartDelayMs(instance.failures, policy);
    status.state = 'restarting';
    status.restarts += 1;
    log.warn(
      { child: status.name, code, signal, restartInMs: delayMs },
      `${status.name} exited (${signal ?? `code ${code}`}); restarting in ${delayMs} ms`,
    );
    void save();
    instance.restartTimer = setTimeout(() => {
      instance.restartTimer = undefined;
      if (!stopping) launch(instance);
    }, delayMs);
  }

  function whenListening(instance: Instance): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AppError(
              500,
              SupervisorErrors.START_FAILED,
              `${instance.status.name} did not start within ${startTimeoutMs} ms; see ${path.join(dataDir, 'logs', `${instance.status.name}.log`)}`,
            ),
          ),
        startTimeoutMs,
      );
      instance.listening = (url) => {
        clearTimeout(timer);
        instance.listening = undefined;
        resolve(url);
      };
    });
  }

  async function stop() {
    if (stopping) return;
    stopping = true;
    const all = [gateway, ...instances];
    for (const instance of all) clearTimeout(instance.restartTimer);
    // The gateway first, so no new work reaches services that are about to go.
    const live = (list: Instance[]) => list.flatMap((i) => (i.process === undefined ? [] : [i.process]));
    await terminate(live([gateway]), options.stopGraceMs ?? 10_000, log);
    await terminate(live(instances), options.stopGraceMs ?? 10_000, log);
    for (const instance of all) instance.status.state = 'stopped';
    await save();
    rmSync(path.join(dataDir, 'supervisor.pid'), { force: true });
    log.info('all instances stopped');
  }

  try {
    const ready = instances.map(whenListening);
    for (const instance of instances) launch(instance);
    await Promise.all(ready);
    const gatewayReady = whenListening(gateway);
    launch(gateway);
    await gatewayReady;
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    get gatewayUrl() {
      return gatewayUrl ?? '';
    },
    instances: () => [...instances, gateway].map((i) => ({ ...i.status })),
    stop,
  };
}

/** SIGTERM (after SIGCONT, since a stopped process cannot act on it), then SIGKILL after the grace. */
async function terminate(processes: ManagedProcess[], graceMs: number, log: Logger) {
  for (const child of processes) {
    child.signal('SIGCONT');
    child.signal('SIGTERM');
  }
  const timer = setTimeout(() => {
    for (const child of processes) {
      if (child.child.exitCode === null && child.child.signalCode === null) {
        log.warn({ pid: child.pid }, `pid ${child.pid} ignored SIGTERM; killing it`);
        child.signal('SIGKILL');
      }
    }
  }, graceMs);
  await Promise.all(processes.map((child) => child.exited));
  clearTimeout(timer);
}

/** One supervisor per data directory: two would share stores and ports. */
function lockDataDir(dataDir: string) {
  const file = path.join(dataDir, 'supervisor.pid');
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new AppError(
        409,
        SupervisorErrors.ALREADY_RUNNING,
        `archlab is already running on ${dataDir} (supervisor pid ${pid})`,
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  writeFileSync(file, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
