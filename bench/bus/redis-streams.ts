// The Redis ceiling: raw Streams through ioredis, the least a consumer-group queue can do. A batch is
// one pipeline of XADDs; the consumer reads up to `prefetch` entries with XREADGROUP and acks them with
// one XACK once their handlers returned. No leases, retries, delays or dead letters.
import { Redis } from 'ioredis';
import { errorText, type Message, type SubjectFactory } from './subject.ts';

export const REDIS_URL = 'redis://127.0.0.1:6379/0';
const GROUP = 'bench';
// Blocks briefly so close() never waits long for a read in progress.
const BLOCK_MS = 100;
// Far above the bench's backlog bound, so trimming never drops an undelivered entry; it only keeps
// the shared server's memory flat (XACK alone leaves entries in the stream).
const MAX_LEN = 100_000;

export function redisStreams(keyPrefix: (scenario: string) => string): SubjectFactory {
  return {
    name: 'raw redis streams',
    async open(scenario) {
      const stream = `${keyPrefix(scenario)}stream`;
      const writer = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      // XREADGROUP BLOCK holds its connection, so the consumer gets its own.
      const reader = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      await writer.xgroup('CREATE', stream, GROUP, '$', 'MKSTREAM');
      let stopped = false;
      let consuming: Promise<void> | undefined;

      async function consumeLoop(handler: (message: Message) => void, prefetch: number) {
        while (!stopped) {
          const reply = (await reader.xreadgroup(
            'GROUP',
            GROUP,
            'c1',
            'COUNT',
            prefetch,
            'BLOCK',
            BLOCK_MS,
            'STREAMS',
            stream,
            '>',
          )) as [string, [string, string[]][]][] | null;
          const entries = reply?.[0]?.[1];
          if (!entries || entries.length === 0) continue;
          await Promise.all(entries.map(async ([, fields]) => handler(JSON.parse(fields[1]!) as Message)));
          await reader.xack(stream, GROUP, ...entries.map(([id]) => id));
        }
      }
      return {
        async send(messages) {
          if (messages.length === 1) {
            await writer.xadd(stream, 'MAXLEN', '~', MAX_LEN, '*', 'm', JSON.stringify(messages[0]));
            return;
          }
          const pipeline = writer.pipeline();
          for (const m of messages) pipeline.xadd(stream, 'MAXLEN', '~', MAX_LEN, '*', 'm', JSON.stringify(m));
          const results = await pipeline.exec();
          const failed = results?.find(([error]) => error);
          if (failed) throw failed[0];
        },
        async consume(handler, prefetch) {
          consuming = consumeLoop(handler, prefetch).catch((error: unknown) => {
            if (!stopped) console.error(`raw redis streams consumer stopped: ${errorText(error)}`);
          });
        },
        async close() {
          stopped = true;
          await consuming;
          await Promise.all([writer.quit(), reader.quit()]);
        },
      };
    },
  };
}
