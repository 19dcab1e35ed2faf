// archlab's gateway in its own process with every feature on, built as the integration tests build
// it: the route table, a pool per service (items-queries: one member; catalog-queries: three
// round-robin members, all the same backend origin), Prometheus metrics (GET /metrics), a child
// traceparent and an x-request-id on every request. argv[2]: the backend's URL; argv[3]: a directory
// to record spans in (every request sampled, as in a lab run), or nothing for no spans.
import { createGateway } from '../../src/gateway/gateway.ts';
import { createLogger } from '../../src/kit/logger.ts';
import { startSpanFile } from '../../src/kit/spans.ts';
import { parseTopology } from '../../src/topology/loader.ts';
import { announce } from './serve.ts';

const backend = process.argv[2]!;
const spansDir = process.argv[3];
if (spansDir !== undefined) startSpanFile({ dataDir: spansDir, service: 'gateway', instance: 'bench-gateway' });
// GET routes: idempotent, so the gateway's retry path (another member after a failure) is armed.
const topology = parseTopology(
  `services:
  items-queries: { instances: 1 }
  catalog-queries: { instances: 3 }
routes:
  - { prefix: /api-queries/items, service: items-queries, idempotent: true }
  - { prefix: /api-queries/catalog, service: catalog-queries, idempotent: true }
`,
  { dataDir: '/tmp/unused', env: {} },
);
const gateway = createGateway({
  topology,
  placement: { 'items-queries': [backend], 'catalog-queries': [backend, backend, backend] },
  // Warnings and errors only (ejections, upstream failures); the parent shows them if any appear.
  log: createLogger({ level: 'warn', bindings: { instance: 'bench-gateway' } }),
  port: 0,
});
const url = await gateway.listen();
announce({ url, paths: { one: '/api-queries/items/42', three: '/api-queries/catalog/42', metrics: '/metrics' } }, () =>
  gateway.close(),
);
