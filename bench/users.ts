// Users slice throughput: registrations and reads through archlab's gateway vs the same service
// called directly (the gateway's overhead), and registrations vs the bare scrypt hash rate on this
// machine (the ceiling: every registration hashes one password).
//   npm run bench -- users            (BENCH_SECONDS=5 BENCH_CONCURRENCY=16 by default)
import { randomBytes, scrypt } from 'node:crypto';
import os from 'node:os';
import { startSystem } from '../test/helpers/system.ts';
import { drive, printTable } from './load.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const durationMs = seconds * 1000;

const cleanups: (() => unknown)[] = [];
try {
  const system = await startSystem({ after: (fn: () => unknown) => void cleanups.push(fn) } as never, {
    topology: new URL('../test/fixtures/users.yaml', import.meta.url).pathname,
    env: { ARCHLAB_LOG_LEVEL: 'warn' },
  });
  const run = await system.run();
  const direct = (name: string) => run.instances.find((i) => i.name === name)!.url;
  const tag = randomBytes(3).toString('hex');
  const register = (prefix: string) => (i: number) => ({
    method: 'POST' as const,
    path: '/api-commands/users',
    body: JSON.stringify({ email: `${prefix}-${tag}-${i}@bench.example`, password: 'bench-password' }),
  });

  console.log(
    `archlab users bench: ${seconds} s per scenario, ${concurrency} clients, ${os.cpus().length} cores, node ${process.version}`,
  );
  const rows = [];
  rows.push(await drive('register via gateway', system.gateway, register('g'), { concurrency, durationMs }));
  rows.push(await drive('register direct', direct('users-commands-1'), register('d'), { concurrency, durationMs }));

  const seed = await fetch(`${system.gateway}/api-commands/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `read-${tag}@bench.example`, password: 'pw' }),
  }).then((r) => r.json() as Promise<{ id: string; seq: number }>);
  const read = () => ({ method: 'GET' as const, path: `/api-queries/users/${seed.id}?minSeq=${seed.seq}` });
  rows.push(await drive('read by id via gateway', system.gateway, read, { concurrency, durationMs }));
  rows.push(await drive('read by id direct', direct('users-queries-1'), read, { concurrency, durationMs }));
  rows.push(await scryptRate(durationMs, concurrency));

  printTable(rows, [
    ['gateway overhead, registrations', 'register via gateway', 'register direct'],
    ['gateway overhead, reads', 'read by id via gateway', 'read by id direct'],
    ['registrations vs bare scrypt', 'register via gateway', 'bare scrypt hashes (same cost)'],
  ]);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}

/** The same scrypt cost the users service uses, as fast as this process can go, for the ceiling. */
async function scryptRate(ms: number, parallel: number) {
  let count = 0;
  const started = performance.now();
  const end = started + ms;
  const one = () =>
    new Promise<void>((resolve, reject) =>
      scrypt('bench-password', randomBytes(16), 32, { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        await one();
        count++;
      }
    }),
  );
  const perSecond = (count / (performance.now() - started)) * 1000;
  return {
    name: 'bare scrypt hashes (same cost)',
    requests: count,
    errors: 0,
    statuses: {},
    perSecond,
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
  };
}
