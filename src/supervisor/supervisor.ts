// The supervisor: turns the topology into OS processes (every service instance and warm spare, then
// the monitor, then the gateway), restarts any that exits with backoff, carries out process faults
// (kill, hang, resume, restart) from its loopback admin port, follows the monitor's feed to run
// passive redundancy (redundancy.ts), and stops them all — SIGTERM, then SIGKILL after a grace
// period — when asked. It keeps run.json in the data directory current for the CLI.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AppError, KitErrors } from '../kit/errors.ts';
import type { Logger } from '../kit/logger.ts';
import { freePort } from '../kit/ports.ts';
import { createTextLog } from '../kit/text-log.ts';
import { followMonitor } from '../monitor/feed.ts';
import type { InstanceHealth, Transition } from '../monitor/types.ts';
import { type PlacedInstance, placementOf, writePlacement } from '../topology/placement.ts';
import type { Topology } from '../topology/types.ts';
import { createSupervisorAdmin } from './admin.ts';
import { SupervisorErrors } from './errors.ts';
import { type ChildMessage, type ManagedProcess, spawnInstance } from './processes.ts';
import { passiveActions } from './redundancy.ts';
import { DEFAULT_RESTART, failuresAfterExit, type RestartPolicy, restartDelayMs } from './restart.ts';
import { createAdminToken, type InstanceStatus, writeRunFile } from './run-file.ts';

/** After every primary is up again, a cold spare keeps serving this long so the gateway can fail back. */
const SPARE_STOP_DELAY_MS = 1000;

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

export type FaultAction = 'kill' | 'hang' | 'resume' | 'restart';

export interface Supervisor {
  readonly gatewayUrl: string;
  readonly adminUrl: string;
  instances(): InstanceStatus[];
  /** Carries out a process fault; throws AppError unknown_instance / instance_not_running. */
  fault(instance: string, action: FaultAction, options?: { hold?: boolean }): Promise<InstanceStatus>;
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
  /** Not restarted when it exits: stopped on purpose (a cold spare, a held kill, a restart in progress). */
  noRestart: boolean;
  /** Being restarted: its next "listening" is announced in the text log. */
  restarting: boolean;
}

export async function startSupervisor(options: SupervisorOptions): Promise<Supervisor> {
  const { topology, log } = options;
  const dataDir = path.resolve(options.dataDir);
  const policy = options.restart ?? DEFAULT_RESTART;
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const graceMs = options.stopGraceMs ?? 10_000;
  mkdirSync(dataDir, { recursive: true });
  lockDataDir(dataDir);
  const token = await createAdminToken(dataDir);
  // Seed 001's monitor printed these two lines; they go to data/logs/supervisor.txt.
  const text = createTextLog(path.join(dataDir, 'logs', 'supervisor.txt'), log);
  const startedAt = new Date().toISOString();
  let stopping = false;
  let gatewayUrl: string | null = null;

  // Every port is chosen once, so an instance restarts where the gateway and the monitor expect it.
  const instances: Instance[] = [];
  const placed: PlacedInstance[] = [];
  for (const service of topology.services) {
    const spares = service.redundancy.type === 'passive' ? service.redundancy.spares : 0;
    const names = [
      ...Array.from({ length: service.instances }, (_, i) => ({ name: `${service.name}-${i + 1}`, spare: false })),
      ...Array.from({ length: spares }, (_, i) => ({ name: `${service.name}-spare-${i + 1}`, spare: true })),
    ];
    for (const { name, spare } of names) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      placed.push({ name, service: service.name, url, spare });
      const instance = newInstance(
        { name, service: service.name, program: service.program, role: service.role, port, url, spare },
        service.env,
      );
      if (spare && service.redundancy.type === 'passive' && service.redundancy.mode === 'cold') {
        instance.status.state = 'standby';
      }
      instances.push(instance);
    }
  }
  const monitorPort = await freePort();
  const monitorUrl = `http://127.0.0.1:${monitorPort}`;
  await writePlacement(dataDir, placementOf(placed, monitorUrl));
  const monitor = newInstance(
    { name: 'monitor', service: 'monitor', program: 'monitor', role: 'monitor', port: monitorPort, url: monitorUrl },
    {},
  );

  // The gateway's admin port too, so a restarted gateway answers where run.json says.
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
  const all = () => [...instances, monitor, gateway];
  const byName = (name: string) => all().find((i) => i.status.name === name);

  function newInstance(
    fields: Omit<InstanceStatus, 'pid' | 'state' | 'restarts' | 'spare' | 'health'> & { spare?: boolean },
    env: Record<string, string>,
  ): Instance {
    return {
      status: { ...fields, spare: fields.spare ?? false, pid: null, state: 'starting', restarts: 0, health: null },
      env,
      process: undefined,
      failures: 0,
      startedAt: 0,
      restartTimer: undefined,
      listening: undefined,
      noRestart: false,
      restarting: false,
    };
  }

  const admin = createSupervisorAdmin({ token, log, supervisor: () => api });
  const adminUrl = await admin.listen(0);

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
          supervisorAdmin: adminUrl,
          monitor: monitorUrl,
          gatewayAdmin,
          instances: all().map((i) => i.status),
        }),
      )
      .catch((error: unknown) => log.error({ err: error }, 'could not write run.json'));
    return saving;
  };

  function launch(instance: Instance) {
    const { status } = instance;
    instance.startedAt = Date.now();
    instance.noRestart = false;
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
        if (message.type === 'listening' && instance.process === child) {
          status.state = 'running';
          if (status.name === 'gateway') gatewayUrl = message.url;
          status.url = message.url;
          log.info({ child: status.name, childPid: status.pid, url: message.url }, `${status.name} running`);
          if (instance.restarting) text(`Ejecutandose correctamente ${status.name}`);
          instance.restarting = false;
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
    if (stopping || instance.noRestart) {
      if (!stopping && status.state === 'stopping') status.state = status.spare ? 'standby' : 'stopped';
      if (stopping) status.state = 'stopped';
      log.info({ child: status.name, code, signal }, `${status.name} stopped`);
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
      if (stopping || instance.noRestart) return;
      announceRestart(instance);
      launch(instance);
    }, delayMs);
  }

  function announceRestart(instance: Instance) {
    instance.restarting = true;
    text(`Reiniciando ${instance.status.name}`);
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

  /** Stops one instance on purpose (no restart): SIGCONT + SIGTERM, SIGKILL after the grace. */
  async function stopOne(instance: Instance, finalState: 'stopped' | 'standby' | 'held') {
    clearTimeout(instance.restartTimer);
    instance.restartTimer = undefined;
    instance.noRestart = true;
    const child = instance.process;
    instance.status.state = 'stopping';
    if (child !== undefined) await terminate([child], graceMs, log);
    instance.status.state = finalState;
    void save();
  }

  async function fault(name: string, action: FaultAction, faultOptions: { hold?: boolean } = {}) {
    const instance = byName(name);
    if (instance === undefined) {
      throw new AppError(404, KitErrors.UNKNOWN_INSTANCE, `no instance named ${name}`);
    }
    const { status } = instance;
    const child = instance.process;
    if (action === 'restart') {
      log.warn({ child: name }, `fault: restart ${name}`);
      if (child !== undefined) await stopOne(instance, 'stopped');
      instance.failures = 0;
      announceRestart(instance);
      const ready = whenListening(instance);
      launch(instance);
      await ready.catch(() => undefined);
      return { ...status };
    }
    if (child === undefined) {
      throw new AppError(409, SupervisorErrors.NOT_RUNNING, `${name} is not running (${status.state})`);
    }
    log.warn({ child: name, action, hold: faultOptions.hold ?? false }, `fault: ${action} ${name}`);
    if (action === 'kill') {
      if (faultOptions.hold) {
        clearTimeout(instance.restartTimer);
        instance.noRestart = true;
      }
      child.signal('SIGKILL');
      await child.exited;
      if (faultOptions.hold) status.state = 'held';
    } else if (action === 'hang') {
      child.signal('SIGSTOP');
      status.state = 'hung';
    } else {
      child.signal('SIGCONT');
      if (status.state === 'hung') status.state = 'running';
    }
    void save();
    return { ...status };
  }

  // Passive redundancy and the health column follow the monitor's feed.
  function applyHealth(name: string, health: InstanceHealth) {
    const instance = byName(name);
    if (instance !== undefined) instance.status.health = health;
  }
  function onTransition(transition: Transition) {
    applyHealth(transition.instance, transition.to);
    void save();
    const spec = topology.services.find((s) => s.name === transition.service);
    if (spec === undefined || stopping) return;
    const mine = instances.filter((i) => i.status.service === spec.name);
    const actions = passiveActions(transition, {
      service: spec,
      primaries: mine.filter((i) => !i.status.spare).map((i) => i.status.name),
      spares: mine.filter((i) => i.status.spare).map((i) => i.status.name),
      state: (name) => byName(name)?.status.state,
      health: (name) => byName(name)?.status.health,
    });
    for (const action of actions) {
      const instance = byName(action.instance)!;
      log.warn(
        { child: action.instance, action: action.type },
        `passive redundancy: ${action.type} ${action.instance}: ${action.reason}`,
      );
      if (action.type === 'kill') instance.process?.signal('SIGKILL');
      else if (action.type === 'start') launch(instance);
      else {
        setTimeout(() => {
          const primaries = mine.filter((i) => !i.status.spare);
          if (!stopping && primaries.every((p) => p.status.health === 'up')) void stopOne(instance, 'standby');
        }, SPARE_STOP_DELAY_MS).unref();
      }
    }
  }
  let feed: { close(): void } | undefined;

  async function stop() {
    if (stopping) return;
    stopping = true;
    feed?.close();
    for (const instance of all()) clearTimeout(instance.restartTimer);
    // The gateway first, so no new work reaches services that are about to go; then the monitor.
    const live = (list: Instance[]) => list.flatMap((i) => (i.process === undefined ? [] : [i.process]));
    await terminate(live([gateway]), graceMs, log);
    await terminate(live([monitor]), graceMs, log);
    await terminate(live(instances), graceMs, log);
    for (const instance of all()) instance.status.state = 'stopped';
    await save();
    await admin.close();
    rmSync(path.join(dataDir, 'supervisor.pid'), { force: true });
    log.info('all instances stopped');
  }

  const api: Supervisor = {
    get gatewayUrl() {
      return gatewayUrl ?? '';
    },
    adminUrl,
    instances: () => all().map((i) => ({ ...i.status })),
    fault,
    stop,
  };

  try {
    const starting = instances.filter((i) => i.status.state === 'starting');
    const ready = starting.map(whenListening);
    for (const instance of starting) launch(instance);
    await Promise.all(ready);
    const monitorReady = whenListening(monitor);
    launch(monitor);
    await monitorReady;
    feed = followMonitor(
      monitorUrl,
      {
        snapshot(snapshot) {
          for (const view of snapshot.instances) applyHealth(view.instance, view.state);
          void save();
        },
        transition: onTransition,
      },
      { log },
    );
    const gatewayReady = whenListening(gateway);
    launch(gateway);
    await gatewayReady;
  } catch (error) {
    await stop();
    throw error;
  }
  return api;
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
