// Calculator calls through archlab's gateway (HTTP GET /add/:a/:b transcoded to gRPC, with routing,
// pool, retry accounting, metrics) vs the same gRPC service called directly with the gateway's own
// gRPC client (the peer: what the transcoding hop costs), at the same concurrency.
//   npm run bench -- calculator       (BENCH_SECONDS=5 BENCH_CONCURRENCY=16 by default)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGrpcUpstreams } from '../src/gateway/grpc-client.ts';
import { startSystem } from '../test/helpers/system.ts';
import { tmpDir } from '../test/helpers/tmp.ts';
import { drive, type LoadResult, printTable } from './load.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const durationMs = seconds * 1000;

const cleanups: (() => unknown)[] = [];
const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as never;
try {
  const file = path.join(tmpDir(t, 'archlab-bench-calculator-'), 'archlab.yaml');
  writeFileSync(
    file,
    `services:
  calculator-add: { kind: grpc }
routes:
  - { prefix: /add, service: calculator-add, grpc: { method: Add, label: Addition }, storeAndForward: true }
`,
  );
  const system = await startSystem(t, { topology: file, env: { ARCHLAB_LOG_LEVEL: 'warn' } });
  const add = (await system.run()).instances.find((i) => i.name === 'calculator-add-1')!.url;
  console.log(
    `archlab calculator bench: ${seconds} s per scenario, ${concurrency} clients, ${os.cpus().length} cores, node ${process.version}`,
  );
  const rows: LoadResult[] = [];
  rows.push(
    await drive('add via gateway (HTTP → gRPC)', system.gateway, (i) => ({ method: 'GET', path: `/add/${i}/2` }), {
      concurrency,
      durationMs,
    }),
  );
  rows.push(await direct(add));
  printTable(rows, [['gateway (transcoding) vs direct gRPC', 'add via gateway (HTTP → gRPC)', 'add direct gRPC']]);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}

/** The peer: `concurrency` loops of Add calls straight to the instance, on one reused channel. */
async function direct(origin: string): Promise<LoadResult> {
  const grpc = createGrpcUpstreams();
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const outcome = await grpc.call(origin, 'Add', { num1: i++, num2: 2 }, 2000);
        if (!outcome.ok) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  await grpc.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    name: 'add direct gRPC',
    requests: latencies.length,
    errors,
    statuses: {},
    perSecond: (latencies.length / elapsedMs) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}
