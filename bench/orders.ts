// Seed 004 orders throughput: orders placed through the gateway for BENCH_SECONDS (closed loop,
// BENCH_CONCURRENCY clients), then how fast they were settled end to end (placed → outbox → stream →
// dispatcher → orders.process → worker → stock reserved on products-commands → settled), measured on
// the orders write store: settled orders / (last settlement − first placement). The placement rate
// printed beside it is the peer: settling keeps up when the two are close.
//   npm run bench -- orders            (BENCH_SECONDS=5 BENCH_CONCURRENCY=16; bounded well under 60 s)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStore } from '../src/store/create-store.ts';
import { startSystem } from '../test/helpers/system.ts';
import { drive, printTable } from './load.ts';

const seconds = Math.min(20, Number(process.env.BENCH_SECONDS ?? 5));
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SETTLE_TIMEOUT_MS = 30_000;

const cleanups: (() => unknown)[] = [];
try {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'archlab-bench-orders-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const topology = path.join(dir, 'archlab.yaml');
  writeFileSync(
    topology,
    `services:
  users-commands: {}
  users-queries: {}
  products-commands: {}
  products-queries: {}
  orders-commands: {}
  orders-queries: {}
  orders-worker: {}
routes:
  - { prefix: /api-commands/users, service: users-commands }
  - { prefix: /api-commands/products, service: products-commands }
  - { prefix: /api-commands/orders, service: orders-commands }
  - { prefix: /api-queries/orders, service: orders-queries, idempotent: true }
`,
  );
  const system = await startSystem({ after: (fn: () => unknown) => void cleanups.push(fn) } as never, {
    topology,
    env: { ARCHLAB_LOG_LEVEL: 'warn' },
  });
  const post = async (route: string, body: unknown) => {
    const res = await fetch(`${system.gateway}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await res.json()) as { id: string; seq: number };
  };
  const users = await Promise.all(
    Array.from({ length: 8 }, (_, i) => post('/api-commands/users', { username: `b${i}` })),
  );
  const products = await Promise.all(
    Array.from({ length: 4 }, (_, i) =>
      post('/api-commands/products', { name: `p${i}`, description: 'bench', value: 9.99, stock: 1_000_000_000 }),
    ),
  );
  const hints = `?usersSeq=${Math.max(...users.map((u) => u.seq))}&productsSeq=${Math.max(...products.map((p) => p.seq))}`;

  console.log(
    `archlab orders bench: ${seconds} s of placements, ${concurrency} clients, ${os.cpus().length} cores, node ${process.version}`,
  );
  const placing = await drive(
    'place order via gateway (202)',
    system.gateway,
    (i) => ({
      method: 'POST',
      path: `/api-commands/orders${hints}`,
      body: JSON.stringify({
        user: users[i % users.length]!.id,
        product: products[i % products.length]!.id,
        quantity: 1,
      }),
    }),
    { concurrency, durationMs: seconds * 1000 },
  );

  const store = await createStore(`sqlite:${system.dataDir}`, { name: 'orders-commands' });
  cleanups.push(() => store.close());
  type Totals = { total: number; processing: number; completed: number; first: number; last: number };
  const totals = async () =>
    (
      await store.query<Totals>(
        `SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN state = 'processing' THEN 1 ELSE 0 END), 0) AS processing,
           COALESCE(SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END), 0) AS completed,
           MIN(created_at) AS first, MAX(updated_at) AS last FROM orders`,
      )
    )[0]!;
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  let now = await totals();
  while (now.processing > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    now = await totals();
  }
  const settleSeconds = (now.last - now.first) / 1000;
  const settledPerSecond = (now.total - now.processing) / settleSeconds;
  printTable(
    [
      placing,
      {
        name: 'orders settled end to end',
        requests: now.total - now.processing,
        errors: now.processing,
        statuses: {},
        perSecond: settledPerSecond,
        p50Ms: Number.NaN,
        p99Ms: Number.NaN,
      },
    ],
    [['settled vs placed', 'orders settled end to end', 'place order via gateway (202)']],
  );
  console.log(
    `\n${now.total} orders accepted (${placing.statuses['202'] ?? 0} answered 202), ${now.completed} completed, ` +
      `${now.processing} still processing after ${SETTLE_TIMEOUT_MS / 1000} s; ` +
      `first placed → last settled: ${settleSeconds.toFixed(2)} s`,
  );
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
