import assert from 'node:assert/strict';
import net from 'node:net';
import { it } from 'node:test';
import { Redis } from 'ioredis';
import { freePort } from '../../test/helpers/ports.ts';
import { needRedisServer } from '../../test/helpers/redis.ts';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { startBroker, waitForPing } from './broker.ts';

/** Outside CI a missing redis-server skips these tests, visibly; with CI=true it fails them. */

const skip = needRedisServer();

async function client(url: string) {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  await redis.connect();
  return redis;
}

it('keeps acknowledged writes across a SIGKILL and a graceful stop, on the same port', { skip }, async (t) => {
  const broker = await startBroker(tmpDir(t, 'archlab-broker-'));
  t.after(() => broker.close());
  const first = await client(broker.url);
  await first.set('written-before-the-crash', 'kept');
  first.disconnect();

  await broker.kill();
  assert.equal(broker.running(), false);
  await broker.start();
  const second = await client(broker.url);
  assert.equal(await second.get('written-before-the-crash'), 'kept', 'the AOF had it (appendfsync always)');
  await second.set('written-before-the-stop', 'kept too');
  second.disconnect();

  await broker.stop();
  await broker.start();
  const third = await client(broker.url);
  t.after(() => third.disconnect());
  assert.deepEqual(await third.mget('written-before-the-crash', 'written-before-the-stop'), ['kept', 'kept too']);
});

it('refuses a fault that does not fit its state, and close() is idempotent', { skip }, async (t) => {
  const broker = await startBroker(tmpDir(t, 'archlab-broker-'));
  t.after(() => broker.close());
  await assert.rejects(broker.start(), { code: 'lab_fault_failed', message: /already running/ });
  await broker.kill();
  await assert.rejects(broker.stop(), { code: 'lab_fault_failed', message: /not running/ });
  await assert.rejects(broker.kill(), { code: 'lab_fault_failed', message: /not running/ });
  await broker.start();
  await Promise.all([broker.close(), broker.close()]);
  assert.equal(broker.running(), false);
});

it('waitForPing polls until PONG: a server still loading (-LOADING) is not ready yet', async (t) => {
  let pings = 0;
  const server = net.createServer((socket) => {
    socket.on('data', () => {
      pings++;
      socket.end(pings < 3 ? '-LOADING Redis is loading the dataset in memory\r\n' : '+PONG\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  assert.equal(await waitForPing(port, Date.now() + 10_000), undefined);
  assert.equal(pings, 3);
});

it('waitForPing gives up at its deadline, naming the last answer', async () => {
  const port = await freePort();
  const problem = await waitForPing(port, Date.now() + 100);
  assert.match(problem?.message ?? '', /no PONG in time \(last PING: ECONNREFUSED\)/);
});
