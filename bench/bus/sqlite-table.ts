// The SQLite ceiling: the least a durable table queue can do on node:sqlite (WAL, synchronous=NORMAL,
// the settings archlab's SQLite backend uses). A batch is inserted in one transaction; the consumer
// claims up to `prefetch` rows with one UPDATE … RETURNING and deletes them in one statement once
// their handlers returned. No leases, retries or idempotency keys: that is what makes it a ceiling.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { errorText, type Message, type SubjectFactory, yielder } from './subject.ts';

// Bench-only schema for the bare table queue.
const SCHEMA = `
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  payload TEXT NOT NULL,
  claimed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_waiting ON jobs (id) WHERE claimed = 0;
`;

/** How long an idle consumer sleeps when no local send wakes it first. */
const IDLE_POLL_MS = 10;

export function sqliteTable(dir: string): SubjectFactory {
  return {
    name: 'bare sqlite table',
    async open(scenario) {
      const file = path.join(dir, `table-${scenario}.db`);
      const db = new DatabaseSync(file);
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
      db.exec(SCHEMA);
      const insert = db.prepare('INSERT INTO jobs (payload) VALUES (?)');
      const claim = db.prepare(
        'UPDATE jobs SET claimed = 1 WHERE id IN (SELECT id FROM jobs WHERE claimed = 0 ORDER BY id LIMIT ?) RETURNING id, payload',
      );
      const removeOne = db.prepare('DELETE FROM jobs WHERE id = ?');
      const removeMany = db.prepare('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))');

      let stopped = false;
      let wake: (() => void) | undefined;
      let consuming: Promise<void> | undefined;
      async function consumeLoop(handler: (message: Message) => void, prefetch: number) {
        const pause = yielder();
        while (!stopped) {
          const rows = claim.all(prefetch) as { id: number; payload: string }[];
          if (rows.length === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, IDLE_POLL_MS);
            });
            wake = undefined;
            continue;
          }
          await Promise.all(rows.map(async (row) => handler(JSON.parse(row.payload) as Message)));
          if (rows.length === 1) removeOne.run(rows[0]!.id);
          else removeMany.run(JSON.stringify(rows.map((row) => row.id)));
          await pause();
        }
      }
      return {
        async send(messages) {
          if (messages.length === 1) insert.run(JSON.stringify(messages[0]));
          else {
            db.exec('BEGIN');
            try {
              for (const m of messages) insert.run(JSON.stringify(m));
              db.exec('COMMIT');
            } catch (error) {
              db.exec('ROLLBACK');
              throw error;
            }
          }
          wake?.();
        },
        async consume(handler, prefetch) {
          consuming = consumeLoop(handler, prefetch).catch((error: unknown) => {
            console.error(`bare sqlite table consumer stopped: ${errorText(error)}`);
          });
        },
        async close() {
          stopped = true;
          wake?.();
          await consuming;
          db.close();
          for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
        },
      };
    },
  };
}
