// A backend is two halves, an event stream and work queues, over one connection. This base class
// forwards every Bus call to its half, so each backend only builds the halves and closes its transport.
import type {
  Bus,
  ConsumeOptions,
  Consumer,
  DeadJob,
  EnqueueOptions,
  Job,
  NewEvent,
  QueueCounts,
  StreamEvent,
  SubscribeOptions,
  Subscription,
  WorkQueues,
} from './bus.ts';

/** Stops subscriptions or consumers and waits for their running handlers. */
interface Stoppable {
  stop(): Promise<void>;
}

export type StreamsHalf = Omit<Bus, keyof WorkQueues | 'close'> & Stoppable;
export type QueuesHalf = WorkQueues & Stoppable;

export abstract class ComposedBus implements Bus {
  protected abstract readonly streams: StreamsHalf;
  protected abstract readonly queues: QueuesHalf;
  #closing: Promise<void> | undefined;

  /** True from the moment close() is called: new calls must fail with BusErrors.CLOSED. */
  protected get isClosing(): boolean {
    return this.#closing !== undefined;
  }

  /** Closes the connection once both halves have stopped. */
  protected abstract closeTransport(): Promise<void>;

  append(stream: string, events: readonly NewEvent[], options?: { expectedSeq?: number }): Promise<number[]> {
    return this.streams.append(stream, events, options);
  }

  read(stream: string, options?: { after?: number; limit?: number }): Promise<StreamEvent[]> {
    return this.streams.read(stream, options);
  }

  head(stream: string): Promise<number> {
    return this.streams.head(stream);
  }

  getOffset(stream: string, consumer: string): Promise<number> {
    return this.streams.getOffset(stream, consumer);
  }

  setOffset(stream: string, consumer: string, seq: number): Promise<void> {
    return this.streams.setOffset(stream, consumer, seq);
  }

  subscribe(
    stream: string,
    options: SubscribeOptions,
    handler: (events: StreamEvent[]) => Promise<void>,
  ): Subscription {
    return this.streams.subscribe(stream, options, handler);
  }

  enqueue(queue: string, payload: unknown, options?: EnqueueOptions): Promise<{ id: string; enqueued: boolean }> {
    return this.queues.enqueue(queue, payload, options);
  }

  consume(queue: string, handler: (job: Job) => Promise<void>, options?: ConsumeOptions): Consumer {
    return this.queues.consume(queue, handler, options);
  }

  counts(queue: string): Promise<QueueCounts> {
    return this.queues.counts(queue);
  }

  dead(queue: string, options?: { limit?: number }): Promise<DeadJob[]> {
    return this.queues.dead(queue, options);
  }

  requeue(queue: string, id: string): Promise<boolean> {
    return this.queues.requeue(queue, id);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Running handlers still ack jobs and commit offsets as they finish, so the transport goes last.
      await Promise.all([this.streams.stop(), this.queues.stop()]);
      await this.closeTransport();
    })();
    return this.#closing;
  }
}
