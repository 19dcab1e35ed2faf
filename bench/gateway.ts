// Gateway bench: archlab's gateway (every feature on) against nginx and node-http-proxy in front of
// the same minimal node:http backend, and against wrk hitting that backend directly (the ceiling).
// Each server runs in its own process; wrk loads one target at a time, round after round in
// alternating order so the machine's drift shows; the table gives each figure's median.
//   npm run bench -- gateway [--profile]
//   (BENCH_SECONDS=6 BENCH_WARMUP_SECONDS=1 BENCH_CONNECTIONS=50 BENCH_ROUNDS=3 by default;
//   --profile or ARCHLAB_BENCH_PROFILE=1 runs the gateway under node --cpu-prof and summarises it)
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { startNginx } from './gateway/nginx.ts';
import {
  cpuSeconds,
  cpuTimes,
  killChildrenOnExit,
  machineBusySeconds,
  type Running,
  reapedChildrenCpuSeconds,
  startProgram,
} from './gateway/processes.ts';
import { printProfile, readProfile, summarizeProfile } from './gateway/profile.ts';
import {
  BARE_UNDICI,
  HTTP_PROXY,
  type Measurement,
  NGINX,
  printGoals,
  printTable,
  type Row,
} from './gateway/report.ts';
import { ensureCommand, versionOf } from './gateway/tools.ts';
import { type WrkOptions, wrk, wrkArgs } from './gateway/wrk.ts';

// 6 targets × 3 rounds × (1 + 6) s ≈ 126 s: three rounds give a real median, which one disturbed
// round (this machine is shared) cannot move.
const seconds = Number(process.env.BENCH_SECONDS ?? 6);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const profile = process.argv.includes('--profile') || process.env.ARCHLAB_BENCH_PROFILE === '1';
const load: WrkOptions = { threads: 1, connections, seconds, latency: true };
const warmup: WrkOptions = { threads: 1, connections, seconds: warmupSeconds, latency: false };
const FETCH_TIMEOUT_MS = 5000;
const ARCHLAB = 'archlab gateway';
const ARCHLAB_THREE = 'archlab gateway, 3 members';
const ARCHLAB_SPANS = 'archlab gateway, spans recorded';

interface Target {
  name: string;
  url: string;
  /** The process doing the forwarding; undefined for direct. */
  proxy?: Running;
  /** Headers the backend must see from this target (the gateway's trace context and request id). */
  mustAdd?: string[];
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'archlab-bench-gateway-'));
const profileDir = path.join(dir, 'cpu-prof');
killChildrenOnExit(() => rmSync(dir, { recursive: true, force: true }));

const wrkFound = await ensureCommand('wrk', 'wrk');
if ('missing' in wrkFound) {
  console.error(`cannot run the gateway bench without wrk: ${wrkFound.missing}`);
  process.exitCode = 1;
} else {
  await bench(wrkFound.path);
}

async function bench(wrkPath: string) {
  const nginxFound = await ensureCommand('nginx', 'nginx');
  await printHeader(wrkPath, 'path' in nginxFound ? nginxFound.path : undefined);
  const started: Running[] = [];
  const rows: Row[] = [];
  try {
    const backend = await startProgram('backend', new URL('./gateway/backend.ts', import.meta.url), []);
    started.push(backend);
    const gateway = await startProgram(
      ARCHLAB,
      new URL('./gateway/archlab.ts', import.meta.url),
      [backend.url],
      profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    );
    started.push(gateway);
    const one = gateway.paths.one!;
    const targets: Target[] = [{ name: 'direct', url: `${backend.url}${one}` }];

    // A peer that cannot start gets a row that says why; the others still run.
    const peer = async (name: string, start: () => Promise<Running>) => {
      try {
        const proxy = await start();
        started.push(proxy);
        targets.push({ name, url: `${proxy.url}${one}`, proxy });
      } catch (error) {
        rows.push({ target: name, rounds: [], note: `skipped: ${(error as Error).message.split('\n')[0]}` });
        console.log(`${name} skipped: ${(error as Error).message}`);
      }
    };
    if ('path' in nginxFound) await peer(NGINX, () => startNginx(nginxFound.path, dir, backend.url));
    else rows.push({ target: NGINX, rounds: [], note: `skipped: ${nginxFound.missing}` });
    await peer(HTTP_PROXY, () =>
      startProgram(HTTP_PROXY, new URL('./gateway/http-proxy.ts', import.meta.url), [backend.url]),
    );
    await peer(BARE_UNDICI, () =>
      startProgram(BARE_UNDICI, new URL('./gateway/bare-undici.ts', import.meta.url), [backend.url]),
    );
    const traced = ['traceparent', 'x-request-id'];
    targets.push({ name: ARCHLAB, url: `${gateway.url}${one}`, proxy: gateway, mustAdd: traced });
    targets.push({ name: ARCHLAB_THREE, url: `${gateway.url}${gateway.paths.three}`, proxy: gateway, mustAdd: traced });
    // The same gateway writing a span per request and per upstream try (every request sampled).
    await peer(ARCHLAB_SPANS, () =>
      startProgram(ARCHLAB_SPANS, new URL('./gateway/archlab.ts', import.meta.url), [
        backend.url,
        path.join(dir, 'spans'),
      ]),
    );
    targets.at(-1)!.mustAdd = traced;

    console.log('\nchecks (one GET per target before loading it):');
    const expected = await fetchText(targets[0]!.url);
    const loaded: Target[] = [];
    for (const target of targets) {
      const problem = await verify(target, expected.body, backend);
      if (problem === undefined) loaded.push(target);
      else rows.push({ target: target.name, rounds: [], note: `not loaded: ${problem}` });
    }

    const results = new Map<string, Measurement[]>(loaded.map((t) => [t.name, []]));
    const sent = new Map<string, number>();
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? loaded : loaded.toReversed();
      for (const target of order) {
        const { measurement, requests } = await measure(wrkPath, target, backend);
        results.get(target.name)!.push(measurement);
        sent.set(target.name, (sent.get(target.name) ?? 0) + requests);
        console.log(
          `  round ${round}/${rounds}  ${target.name.padEnd(28)} ${measurement.perSecond.toFixed(0).padStart(6)} req/s` +
            `  p50 ${measurement.p50Ms.toFixed(2)} ms  p99 ${measurement.p99Ms.toFixed(2)} ms` +
            `  other CPU ${measurement.otherCpuPercent.toFixed(0)}%` +
            (measurement.problems.length > 0 ? `  (${measurement.problems.join('; ')})` : ''),
        );
      }
    }
    for (const [target, measurements] of results) rows.push({ target, rounds: measurements });
    const order = ['direct', NGINX, HTTP_PROXY, BARE_UNDICI, ARCHLAB, ARCHLAB_THREE, ARCHLAB_SPANS];
    rows.sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target));
    if (profile)
      for (const row of rows)
        if (results.has(row.target) && row.target.startsWith(ARCHLAB)) row.note = 'under --cpu-prof';

    printTable(rows);
    console.log(`\nload average at end: ${loadAverage()} (1/5/15 min)`);
    printGoals(
      rows,
      [ARCHLAB, ARCHLAB_THREE, ARCHLAB_SPANS].filter((name) => results.has(name)),
    );
    await printGatewayMetrics(gateway, sent);
  } finally {
    for (const child of started.toReversed()) await child.stop();
  }
  if (profile) printProfileOf(started.find((child) => child.name === ARCHLAB));
}

async function printHeader(wrkPath: string, nginxPath: string | undefined) {
  const env = ['BENCH_SECONDS', 'BENCH_WARMUP_SECONDS', 'BENCH_CONNECTIONS', 'BENCH_ROUNDS', 'ARCHLAB_BENCH_PROFILE']
    .filter((name) => process.env[name] !== undefined)
    .map((name) => `${name}=${process.env[name]} `)
    .join('');
  const require = createRequire(import.meta.url);
  const versionOfPackage = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  console.log(
    `archlab gateway bench: ${env}npm run bench -- gateway${process.argv.includes('--profile') ? ' --profile' : ''}`,
  );
  console.log(
    `node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), ${os.platform()} ${os.release()}`,
  );
  console.log(
    `${await versionOf(wrkPath, ['-v'])}; ${nginxPath === undefined ? 'nginx missing' : await versionOf(nginxPath, ['-v'])};` +
      ` http-proxy ${versionOfPackage('http-proxy')}; undici ${versionOfPackage('undici')} (the gateway's client)`,
  );
  console.log(`load average at start: ${loadAverage()} (1/5/15 min)`);
  console.log(
    `load per target and round: wrk ${wrkArgs('<target>', warmup).join(' ')} (warm-up, not counted), then` +
      ` wrk ${wrkArgs('<target>', load).join(' ')}; ${rounds} round(s), the order reversed every other round`,
  );
  console.log(
    'every server is its own process on 127.0.0.1; the backend answers a ~60-byte JSON body with keep-alive.' +
      ' archlab gateway: route table, per-service pool (1 member, or 3 round-robin members on the same origin),' +
      ' retry and outlier accounting, x-forwarded-*, traceparent and x-request-id, a Prometheus histogram per request.' +
      ' nginx: 1 process, upstream keepalive 64, access_log off. node-http-proxy: keep-alive agent, maxSockets 64.' +
      ' The peers add no trace headers and keep no metrics.' +
      (profile ? ' The gateway runs under --cpu-prof (sampling costs it a few %).' : ''),
  );
  console.log(
    `${os.availableParallelism()} cores for wrk, the backend and the proxy together. CPU columns, from /proc: proxy CPU` +
      ' in % of one core (near 100%: bound by its own event loop), CPU µs per request (user space + kernel), and' +
      ' other CPU: what the rest' +
      ' of the machine used meanwhile (the highest round), which slows every figure of that round.',
  );
}

async function fetchText(url: string) {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** One GET: 200 with the backend's exact body, and the headers this target must add. */
async function verify(target: Target, expected: string, backend: Running): Promise<string | undefined> {
  let problem: string | undefined;
  let added = '';
  try {
    const res = await fetchText(target.url);
    const seen = JSON.parse((await fetchText(`${backend.url}${backend.paths.lastHeaders}`)).body) as Record<
      string,
      string
    >;
    const adds = ['traceparent', 'x-request-id', 'x-forwarded-for'].filter((name) => seen[name] !== undefined);
    added = adds.length === 0 ? 'no headers added' : `backend saw ${adds.join(', ')}`;
    const missing = (target.mustAdd ?? []).filter((name) => seen[name] === undefined);
    if (res.status !== 200) problem = `answered ${res.status}: ${res.body.slice(0, 160)}`;
    else if (res.body !== expected) problem = `body differs from the backend's: ${res.body.slice(0, 160)}`;
    else if (missing.length > 0) problem = `the backend did not receive ${missing.join(', ')}`;
    else if (target.mustAdd !== undefined && res.headers.get('x-request-id') === null) {
      problem = 'no x-request-id on the answer';
    }
  } catch (error) {
    problem = `request failed: ${(error as Error).message}`;
  }
  console.log(
    `  ${problem === undefined ? 'ok    ' : 'FAILED'}  ${target.name.padEnd(28)} ${problem ?? `200, the backend's ${expected.length}-byte body; ${added}`}`,
  );
  if (problem !== undefined && target.proxy !== undefined) console.log(target.proxy.output());
  return problem;
}

async function measure(wrkPath: string, target: Target, backend: Running) {
  const warm = warmupSeconds > 0 ? await wrk(wrkPath, target.url, warmup) : undefined;
  const before = cpuSnapshot(target, backend);
  const result = await wrk(wrkPath, target.url, load);
  const after = cpuSnapshot(target, backend);
  const wallSeconds = (after.at - before.at) / 1000;
  const used = (key: Exclude<keyof CpuSnapshot, 'at'>) => after[key] - before[key];
  const proxy = used('proxyUser') + used('proxySystem');
  const ours = used('self') + used('wrk') + used('backend') + (target.proxy === undefined ? 0 : proxy);
  const problems: string[] = [];
  if (result.non2xx > 0) problems.push(`${result.non2xx} non-2xx`);
  const { connect, read, write, timeout } = result.socketErrors;
  if (connect + read + write + timeout > 0) {
    problems.push(`socket errors: connect ${connect}, read ${read}, write ${write}, timeout ${timeout}`);
  }
  const measurement: Measurement = {
    perSecond: result.perSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    backendMicrosPerRequest: (used('backend') * 1e6) / result.requests,
    otherCpuPercent: Math.max(0, ((used('machine') - ours) / wallSeconds) * 100),
    problems,
  };
  if (target.proxy !== undefined) {
    measurement.proxyCpuPercent = (proxy / wallSeconds) * 100;
    measurement.proxyMicrosPerRequest = (proxy * 1e6) / result.requests;
    measurement.proxySystemMicrosPerRequest = (used('proxySystem') * 1e6) / result.requests;
  }
  return { measurement, requests: result.requests + (warm?.requests ?? 0) };
}

interface CpuSnapshot {
  at: number;
  proxyUser: number;
  proxySystem: number;
  backend: number;
  self: number;
  /** This process's reaped children: the wrk runs that have ended. */
  wrk: number;
  machine: number;
}

function cpuSnapshot(target: Target, backend: Running): CpuSnapshot {
  const proxy = target.proxy === undefined ? { user: Number.NaN, system: Number.NaN } : cpuTimes(target.proxy.pid);
  return {
    at: performance.now(),
    proxyUser: proxy.user,
    proxySystem: proxy.system,
    backend: cpuSeconds(backend.pid),
    self: cpuSeconds('self'),
    wrk: reapedChildrenCpuSeconds(),
    machine: machineBusySeconds(),
  };
}

/** The gateway's own count of what it served, against what wrk counted as answered. */
async function printGatewayMetrics(gateway: Running, sent: ReadonlyMap<string, number>) {
  const text = (await fetchText(`${gateway.url}${gateway.paths.metrics}`)).body;
  const counts = text
    .split('\n')
    .filter((line) => line.startsWith('archlab_http_request_duration_seconds_count{'))
    .map((line) => {
      const route = /route="([^"]*)"/.exec(line)?.[1];
      const status = /status="([^"]*)"/.exec(line)?.[1];
      return `${route} ${status}: ${line.slice(line.lastIndexOf(' ') + 1)}`;
    });
  const wrkCounted = [ARCHLAB, ARCHLAB_THREE].map((name) => `${name} ${sent.get(name) ?? 0}`).join(', ');
  console.log(
    `\ngateway /metrics, archlab_http_request_duration_seconds_count: ${counts.join('; ') || 'none'}` +
      ` (wrk counted ${wrkCounted}, warm-ups included; the checks add 1 each)`,
  );
  const logged = gateway.output().trim();
  if (logged !== '') console.log(`gateway logged (last lines):\n${logged.split('\n').slice(-5).join('\n')}`);
}

function printProfileOf(gateway: Running | undefined) {
  let files: string[] = [];
  try {
    files = readdirSync(profileDir).filter((file) => file.endsWith('.cpuprofile'));
  } catch {}
  if (files.length === 0) {
    console.log(`\nno .cpuprofile written by the gateway child; its output:\n${gateway?.output() ?? ''}`);
    return;
  }
  // Kept outside the temp dir, which goes at exit, so it can be opened in a profiler UI afterwards.
  const file = path.join(os.tmpdir(), `archlab-bench-gateway-${Date.now()}.cpuprofile`);
  copyFileSync(path.join(profileDir, files[0]!), file);
  printProfile(summarizeProfile(readProfile(file)), file);
}

function loadAverage() {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}
