// The users query side on real processes: pagination, parameter errors, the minSeq bound, and a
// graceful SIGTERM that still answers the request in flight.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { call, startProgram } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { within } from '../helpers/wait-for.ts';

async function usersSlice(t: TestContext, count: number) {
  const dataDir = tmpDir(t);
  const commands = await startProgram(t, { program: 'users-commands', instance: 'users-commands-1', dataDir });
  const queries = await startProgram(t, { program: 'users-queries', instance: 'users-queries-1', dataDir });
  let seq = 0;
  const emails: string[] = [];
  for (let i = 0; i < count; i++) {
    const email = `p${i}@example.com`;
    const res = await call(`${commands.url}/api-commands/users`, { body: { email, password: 'pw' } });
    assert.equal(res.status, 201);
    seq = res.body.seq;
    emails.push(email);
  }
  return { commands, queries, seq, emails };
}

describe('users queries', () => {
  test('pages follow the Link header until every user was seen once, in order', async (t) => {
    const { queries, seq, emails } = await usersSlice(t, 5);
    const seen: string[] = [];
    let next: string | undefined = `/api-queries/users?limit=2&minSeq=${seq}`;
    let pages = 0;
    while (next !== undefined) {
      const page = await call(`${queries.url}${next}`);
      assert.equal(page.status, 200);
      assert.ok(Array.isArray(page.body));
      seen.push(...page.body.map((u: { email: string }) => u.email));
      next = /<([^>]+)>; rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
      pages++;
      assert.ok(pages <= 4, 'pagination must end');
    }
    assert.deepEqual(seen, emails);
  });

  test('bad limit, cursor and minSeq are 400s; an unreachable minSeq is a bounded 504', async (t) => {
    const { queries, seq } = await usersSlice(t, 1);
    for (const [query, code] of [
      ['limit=0', 'validation_failed'],
      ['limit=abc', 'validation_failed'],
      ['cursor=-1', 'invalid_cursor'],
      ['minSeq=x', 'invalid_min_seq'],
      ['minSeq=-3', 'invalid_min_seq'],
    ]) {
      const res = await call(`${queries.url}/api-queries/users?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.code, code, query);
    }
    const bad = await call(`${queries.url}/api-queries/users/check?email=nope`);
    assert.equal(bad.body.error.code, 'invalid_email');
    const behind = await call(`${queries.url}/api-queries/users?minSeq=${seq + 1000}`);
    assert.equal(behind.status, 504);
    assert.equal(behind.body.error.code, 'read_model_behind');
    assert.deepEqual(behind.body.error.details, { position: seq, minSeq: seq + 1000 });
  });

  test('SIGTERM: the request in flight is answered, then the process exits 0', async (t) => {
    const { queries, seq } = await usersSlice(t, 1);
    // A read waiting for a seq that never comes stays in flight for the whole minSeq bound.
    const inFlight = call(`${queries.url}/api-queries/users?minSeq=${seq + 1}`);
    await new Promise((resolve) => setImmediate(resolve));
    await within(
      (async () => {
        for (;;) {
          const health = await call(`${queries.url}/health`);
          if (health.status === 200) return;
        }
      })(),
      5_000,
      'health',
    );
    queries.child.kill('SIGTERM');
    const answer = await within(inFlight, 10_000, 'the in-flight request');
    assert.equal(answer.status, 504, 'answered, not cut off');
    const exit = await within(queries.exited, 10_000, 'users-queries to exit');
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});
