// The peer: BullMQ, configured the way its docs recommend for throughput. A batch is one addBulk(); the
// Worker runs `prefetch` jobs at a time. Completed jobs are removed (removeOnComplete) so its Redis
// work is comparable with a queue that deletes or trims what it acked.
import { Queue, Worker } from 'bullmq';
import type { Message, SubjectFactory } from './subject.ts';

const connection = { host: '127.0.0.1', port: 6379, db: 0, maxRetriesPerRequest: null };

export function bullmq(prefix: (scenario: string) => string): SubjectFactory {
  return {
    name: 'bullmq',
    async open(scenario) {
      const name = 'bench';
      const options = { connection, prefix: prefix(scenario) };
      const queue = new Queue<Message>(name, {
        ...options,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
      });
      await queue.waitUntilReady();
      let worker: Worker<Message> | undefined;
      return {
        async send(messages) {
          if (messages.length === 1) await queue.add('m', messages[0]!);
          else await queue.addBulk(messages.map((data) => ({ name: 'm', data })));
        },
        async consume(handler, prefetch) {
          worker = new Worker<Message>(name, async (job) => handler(job.data), { ...options, concurrency: prefetch });
          await worker.waitUntilReady();
        },
        async close() {
          await worker?.close();
          await queue.obliterate({ force: true });
          await queue.close();
        },
      };
    },
  };
}
