// Transactional outbox: a command writes its state change and its event in ONE store transaction
// (appendToOutbox inside store.transaction), and the relay moves committed events to the bus
// afterwards. No dual write: a crash after the commit leaves the event in the outbox, and the relay
// delivers it when the process is back.
//
// Sequence numbers are assigned here, at commit time, by a per-stream counter row. Updating that row
// takes its lock until commit, so concurrent commands on PostgreSQL commit in seq order with no gaps
// (SQLite serialises writers anyway). The relay appends with expectedSeq, so the bus stream carries
// exactly these numbers — a command can return its event's seq before the relay has run — and a relay
// that crashed after appending but before marking re-appends idempotently (same event ids).
import type { Bus, Headers, NewEvent } from '../bus/bus.ts';
import type { Logger } from '../kit/logger.ts';
import { nowMs, parentFromHeaders, recordSpan, tracing } from '../kit/spans.ts';
import { newSpanId } from '../kit/trace.ts';
import type { Migration, Queryable, Store } from './store.ts';

export const outboxMigrations: readonly Migration[] = [
  {
    id: '000-outbox',
    sql: `-- Outbox: events committed with their state change, waiting for the relay to move them to the bus.
CREATE TABLE outbox_streams (stream TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE outbox (
  stream TEXT NOT NULL,
  seq BIGINT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  headers TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  relayed_at BIGINT,
  PRIMARY KEY (stream, seq)
);
CREATE INDEX outbox_pending ON outbox (stream, seq) WHERE relayed_at IS NULL;`,
  },
];

/** Records `event` for `stream` inside the caller's transaction; returns the seq it will have on the bus. */
export async function appendToOutbox(tx: Queryable, stream: string, event: NewEvent): Promise<number> {
  const [counter] = await tx.query<{ last_seq: number }>(
    `INSERT INTO outbox_streams (stream, last_seq) VALUES ($1, 1)
     ON CONFLICT (stream) DO UPDATE SET last_seq = outbox_streams.last_seq + 1
     RETURNING last_seq`,
    [stream],
  );
  const seq = counter!.last_seq;
  await tx.execute(
    'INSERT INTO outbox (stream, seq, id, type, data, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [stream, seq, event.id, event.type, JSON.stringify(event.data), JSON.stringify(event.headers ?? {}), Date.now()],
  );
  return seq;
}

export interface RelayOptions {
  store: Store;
  bus: Bus;
  log: Logger;
  /** How often the relay looks for rows nobody notified it about (e.g. left by a crash). */
  pollIntervalMs?: number;
  batchSize?: number;
  /**
   * Fault hooks for experiments and tests: `paused` stops relaying; `afterAppend` runs after the bus
   * accepted a batch and before the outbox rows are marked (a crash there must lose nothing).
   */
  hooks?: { paused?: () => boolean; afterAppend?: (stream: string, lastSeq: number) => void };
}

export interface Relay {
  /** Asks the relay to run now (call after a command committed). */
  notify(): void;
  /** Relays until the outbox is empty; resolves to how many events moved. */
  drain(): Promise<number>;
  /** Rows committed but not yet on the bus. */
  pending(): Promise<number>;
  close(): Promise<void>;
}

type OutboxRow = {
  stream: string;
  seq: number;
  id: string;
  type: string;
  data: string;
  headers: string;
  created_at: number;
};

/** A `bus append` span per relayed event whose command was traced (child of the command's span). */
function recordAppendSpans(stream: string, events: readonly OutboxRow[], startMs: number) {
  const endMs = nowMs();
  for (const row of events) {
    const parent = parentFromHeaders(JSON.parse(row.headers) as Headers);
    if (parent === undefined) continue;
    recordSpan({
      traceId: parent.traceId,
      spanId: newSpanId(),
      parentSpanId: parent.spanId,
      name: `bus append ${stream}`,
      kind: 'PRODUCER',
      startMs,
      endMs,
      attributes: {
        'messaging.destination.name': stream,
        'messaging.message.id': row.id,
        'archlab.seq': row.seq,
        'archlab.outbox.committed_ms': row.created_at,
      },
    });
  }
}

export function startOutboxRelay(options: RelayOptions): Relay {
  const { store, bus, log, pollIntervalMs = 200, batchSize = 100, hooks = {} } = options;
  let closed = false;
  let running: Promise<number> | undefined;
  let again = false;

  async function relayBatch(): Promise<number> {
    const rows = await store.query<OutboxRow>(
      `SELECT stream, seq, id, type, data, headers, created_at FROM outbox
       WHERE relayed_at IS NULL ORDER BY stream, seq LIMIT $1`,
      [batchSize],
    );
    for (const [stream, events] of groupByStream(rows)) {
      const first = events[0]!.seq;
      const last = events.at(-1)!.seq;
      const appendStarted = nowMs();
      const seqs = await bus.append(
        stream,
        events.map((row) => ({
          id: row.id,
          type: row.type,
          data: JSON.parse(row.data) as unknown,
          headers: JSON.parse(row.headers) as Headers,
        })),
        { expectedSeq: first - 1 },
      );
      if (seqs[0] !== first || seqs.at(-1) !== last) {
        throw new Error(`bus stream ${stream} numbered ${seqs[0]}..${seqs.at(-1)}, outbox ${first}..${last}`);
      }
      if (tracing()) recordAppendSpans(stream, events, appendStarted);
      hooks.afterAppend?.(stream, last);
      await store.execute('UPDATE outbox SET relayed_at = $1 WHERE stream = $2 AND seq <= $3 AND relayed_at IS NULL', [
        Date.now(),
        stream,
        last,
      ]);
    }
    return rows.length;
  }

  // One relay loop at a time per process; a notify during a run schedules one more pass.
  function drain(): Promise<number> {
    if (running !== undefined) {
      again = true;
      return running;
    }
    // The reset runs in a .finally callback, i.e. after the assignment below, even when the loop
    // returns synchronously (paused): a reset inside the async function would run first and leave
    // `running` pointing at a settled promise forever.
    running = relayUntilEmpty().finally(() => {
      running = undefined;
    });
    return running;
  }

  async function relayUntilEmpty(): Promise<number> {
    let moved = 0;
    do {
      again = false;
      for (;;) {
        if (closed || hooks.paused?.()) return moved;
        const n = await relayBatch();
        moved += n;
        if (n < batchSize) break;
      }
    } while (again);
    return moved;
  }

  function kick() {
    drain().catch((error: unknown) => log.error({ err: error }, 'outbox relay failed; will retry'));
  }

  const timer = setInterval(kick, pollIntervalMs);
  timer.unref();
  kick();

  return {
    notify: kick,
    drain,
    async pending() {
      const [row] = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE relayed_at IS NULL');
      return Number(row!.n);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

function groupByStream(rows: readonly OutboxRow[]): Map<string, OutboxRow[]> {
  const byStream = new Map<string, OutboxRow[]>();
  for (const row of rows) {
    const list = byStream.get(row.stream);
    if (list === undefined) byStream.set(row.stream, [row]);
    else list.push(row);
  }
  return byStream;
}
