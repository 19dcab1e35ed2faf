// How a job travels in a queue's stream entry (see queue-scripts.ts): j = the JSON array [enqueuedAt,
// id, headers, payload], which never changes and is decoded in one JSON.parse; f = from (JSON);
// a = attempts used before this entry. Encoding and decoding live here, in one place.
import type { Headers, Job } from '../bus.ts';

/** What XREADGROUP answers for one stream. */
export type ReadReply = [stream: string, entries: [entry: string, fields: string[]][]][] | null;

/** The tail of j after enqueuedAt, which the enqueue script puts in front from the server clock. */
export function jobTail(id: string, headers: Headers, payload: unknown): string {
  // Serialised by the caller before anything is written, so a payload that cannot be stored fails alone.
  return `,${JSON.stringify(id)},${JSON.stringify(headers)},${JSON.stringify(payload ?? null) ?? 'null'}]`;
}

export function parseJ(j: string): { enqueuedAt: number; id: string; headers: Headers; payload: unknown } {
  const [enqueuedAt, id, headers, payload] = JSON.parse(j) as [number, string, Headers, unknown];
  return { enqueuedAt, id, headers, payload };
}

/** The job an entry delivers; `deliveries` is the entry's delivery count (1 on a first read). */
export function toJob(queue: string, fields: readonly string[], deliveries: number): Job {
  let j = '';
  let from = '[]';
  let used = '0';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'j') j = fields[i + 1]!;
    else if (fields[i] === 'f') from = fields[i + 1]!;
    else if (fields[i] === 'a') used = fields[i + 1]!;
  }
  const { enqueuedAt, id, headers, payload } = parseJ(j);
  return {
    id,
    queue,
    payload,
    headers,
    // Attempts used by earlier entries of this job (retries), plus this entry's deliveries.
    attempt: Number(used) + deliveries,
    // The usual empty chain skips the parser: this runs once per job.
    from: from === '[]' ? [] : (JSON.parse(from) as string[]),
    enqueuedAt,
  };
}

/** Orders stream entry ids (`<ms>-<seq>`, decimal without leading zeros) as Redis does. */
export function compareEntries(a: string, b: string): number {
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  // A longer number is the larger one; equally long ones compare as strings.
  if (aDash !== bDash) return aDash - bDash;
  for (let i = 0; i < aDash; i++) if (a[i] !== b[i]) return a.charCodeAt(i) - b.charCodeAt(i);
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
