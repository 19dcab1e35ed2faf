// archlab's own Bus, through its public interface only (createBus + enqueue/consume), for any URL.
// The interface has no batch enqueue, so a batch is that many enqueue() calls in flight at once.
import type { Consumer } from '../../src/bus/bus.ts';
import { createBus } from '../../src/bus/create-bus.ts';
import { errorText, type Message, NotAvailable, type SubjectFactory, sleep } from './subject.ts';

const PROBE_TIMEOUT_MS = 5000;

export function archlabBus(name: string, url: (scenario: string) => string): SubjectFactory {
  return {
    name,
    async open(scenario) {
      const bus = await createBus(url(scenario)).catch((error: unknown) => {
        throw new NotAvailable(errorText(error));
      });
      try {
        await probe(bus, `bench-${scenario}-probe`);
      } catch (error) {
        await bus.close().catch(() => {});
        throw new NotAvailable(`work queue probe failed: ${errorText(error)}`);
      }
      const queue = `bench-${scenario}`;
      let consumer: Consumer | undefined;
      return {
        async send(messages) {
          if (messages.length === 1) await bus.enqueue(queue, messages[0]);
          else await Promise.all(messages.map((m) => bus.enqueue(queue, m)));
        },
        async consume(handler, prefetch) {
          consumer = bus.consume(queue, async (job) => handler(job.payload as Message), { concurrency: prefetch });
        },
        async close() {
          await consumer?.close();
          await bus.close();
        },
      };
    },
  };
}

/** One job through enqueue → consume → ack, so a half-built backend is reported, not timed. */
async function probe(bus: Awaited<ReturnType<typeof createBus>>, queue: string): Promise<void> {
  if (typeof bus.enqueue !== 'function' || typeof bus.consume !== 'function') {
    throw new Error('enqueue/consume are not implemented');
  }
  let seen = false;
  await bus.enqueue(queue, { probe: true });
  const consumer = bus.consume(queue, async () => {
    seen = true;
  });
  const deadline = performance.now() + PROBE_TIMEOUT_MS;
  while (!seen && performance.now() < deadline) await sleep(5);
  await consumer.close();
  if (!seen) throw new Error(`no delivery within ${PROBE_TIMEOUT_MS} ms`);
}
