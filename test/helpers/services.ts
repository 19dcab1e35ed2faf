// Shared-service availability for tests: outside CI a test that needs PostgreSQL or Redis skips with a
// visible reason when the service is absent; with CI=true it fails instead.
import net from 'node:net';

export const POSTGRES_URL = process.env.ARCHLAB_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.ARCHLAB_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const inCi = () => process.env.CI === 'true';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves to a skip reason (string) when the service is absent outside CI, to false when it is
 * reachable; throws under CI=true when it is absent. Use as `{ skip: await needPostgres() }`.
 */
async function need(name: string, url: string, defaultPort: number): Promise<string | false> {
  if (await reachable(url, defaultPort)) return false;
  const reason = `${name} is not reachable at ${url}`;
  if (inCi()) throw new Error(`${reason} (CI=true requires it)`);
  console.warn(`# skipped: ${reason}`);
  return reason;
}

export const needPostgres = () => need('PostgreSQL', POSTGRES_URL, 5432);
export const needRedis = () => need('Redis', REDIS_URL, 6379);
