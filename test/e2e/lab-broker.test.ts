// Broker faults end to end (issue 7): `archlab experiment run` starts its own redis-server as the bus
// of a real sales system, SIGKILLs it under load and starts it again. While the experiment still runs,
// after the outage, every process of the system must be running and none restarted; the report must
// record both broker faults at their times, and every sale accepted (during the outage too) must be
// seen on the query side.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/lab/report/index.ts';
import type { InstanceStatus } from '../../src/supervisor/run-file.ts';
import { needRedisServer } from '../helpers/redis.ts';
import { CLI } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait-for.ts';

const SALES_TOPOLOGY = new URL('../../experiments/topologies/sales.yaml', import.meta.url).pathname;

const EXPERIMENT = `name: short-broker-outage
topology: ${SALES_TOPOLOGY}
setup:
  - method: POST
    path: /api/vendedor
    body: { nombre: Ana, apellido: Pérez, tipo_documento: CEDULA, numero_documento: "1", telefono: "3001234567" }
    capture: seller
load:
  - name: sales
    rate: 20
    duration: 5s
    timeout: 2s
    request: { method: POST, path: "/api/venta/{seller}", body: { producto: "{{uuid}}", cantidad: 1, cliente: Sol } }
    verify: { path: "/api/venta/{id}", expect: { cliente: Sol } }
  - { name: reads, rate: 20, duration: 5s, timeout: 2s, request: { method: GET, path: /api/ventas } }
faults:
  - { at: 1500ms, action: broker-kill, target: redis }
  - { at: 3500ms, action: broker-start, target: redis }
# Long enough to look at the system after the outage, before the lab stops it.
settle: 4s
hypothesis:
  lostCommands: 0
`;

test('issue 7: a broker killed and started again under load: no process restarts, no accepted command lost', {
  skip: needRedisServer(),
}, async (t) => {
  const dir = tmpDir(t, 'archlab-lab-broker-');
  const file = path.join(dir, 'broker.yaml');
  writeFileSync(file, EXPERIMENT);
  const out = path.join(dir, 'reports');
  const lab = spawn(process.execPath, [CLI, 'experiment', 'run', file, '--out', out], {
    env: { ...process.env, ARCHLAB_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Ctrl-C stops the lab's system and its broker, should the test end early.
  t.after(() => {
    if (lab.exitCode === null && lab.signalCode === null) lab.kill('SIGINT');
  });
  let output = '';
  lab.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  lab.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => lab.once('exit', (code) => resolve(code)));

  // The progress line names the last fault carried out.
  await waitFor(() => output.includes('after broker-start redis'), {
    what: 'the broker to be started again',
    timeoutMs: 90_000,
    intervalMs: 100,
  });
  const [folder] = readdirSync(out);
  const dataDir = path.join(out, folder!, 'variants', 'baseline', 'data');
  const instances = await waitFor(() => status(dataDir), { what: 'archlab status --json' });
  assert.ok(instances.length >= 6, `every process is listed: ${instances.map((i) => i.name)}`);
  for (const instance of instances) {
    assert.equal(instance.state, 'running', `${instance.name} runs after the outage`);
    assert.equal(instance.restarts, 0, `${instance.name} was never restarted`);
  }

  assert.equal(await exited, 0, output);
  const report = JSON.parse(readFileSync(path.join(out, folder!, 'report.json'), 'utf8')) as Report;
  const { run } = report.variants[0]!;
  assert.deepEqual(
    run.faults.map((f) => [f.action, f.target, f.plannedMs, f.ok]),
    [
      ['broker-kill', 'redis', 1500, true],
      ['broker-start', 'redis', 3500, true],
    ],
  );
  const [kill, start] = run.faults;
  assert.ok(run.startedAt <= kill!.at && kill!.at < start!.at && start!.at <= run.endedAt, 'times within the run');
  const commands = run.commands!;
  assert.ok(commands.accepted > 0);
  assert.equal(commands.lost, 0);
  assert.equal(commands.persisted, commands.accepted, 'every accepted sale seen on the query side');
  // Sales were accepted while the broker was down, and not only before or after.
  const duringOutage = run.requests.filter(
    (r) => r.command && r.status === 201 && r.sentAt >= kill!.at && r.endedAt <= start!.at,
  );
  assert.ok(duringOutage.length > 0, 'sales accepted during the outage');
});

/** The instances as `archlab status --json` lists them, or undefined while it cannot answer. */
function status(dataDir: string): InstanceStatus[] | undefined {
  if (!existsSync(path.join(dataDir, 'run.json'))) return undefined;
  const result = spawnSync(process.execPath, [CLI, 'status', '--json', '--data', dataDir], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return result.status === 0 ? (JSON.parse(result.stdout) as InstanceStatus[]) : undefined;
}
