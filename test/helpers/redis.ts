// Direct Redis access for tests: remove every key a test created under its prefix (never FLUSH: the
// server on 6379 is shared).
import { Redis } from 'ioredis';
import { redisServerMissing } from '../../src/lab/broker.ts';
import { REDIS_URL } from './services.ts';

export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/**
 * False when `redis-server` can be started here; otherwise the reason, after a visible skip notice
 * (or an error under CI=true, where a missing server must fail the run).
 */
export function needRedisServer(): string | false {
  const missing = redisServerMissing();
  if (!missing) return false;
  if (process.env.CI === 'true') throw new Error(`${missing} (CI=true requires it)`);
  console.warn(`# skipped: ${missing}`);
  return missing;
}
