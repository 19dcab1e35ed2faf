import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileTemplate, type RequestTemplate } from './template.ts';

const context = { runId: 'run1', seed: 7, stream: 'register' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const registration: RequestTemplate = {
  method: 'post',
  path: '/api/users/{{index}}',
  headers: { 'Idempotency-Key': '{{uuid}}' },
  body: {
    email: '{{email}}',
    id: '{{uuid}}',
    n: '{{index}}',
    label: 'user {{index}} of {{runId}}',
    fail: '{{chance:0.2}}',
    nested: [{ always: '{{chance:1}}', never: '{{ chance:0 }}' }],
    fixed: { a: 1, b: [true, null] },
  },
  command: true,
};

test('placeholders: typed when a whole value, interpolated otherwise', () => {
  const build = compileTemplate(registration, context);
  const request = build(12);
  assert.equal(request.method, 'POST');
  assert.equal(request.path, '/api/users/12');
  assert.equal(request.command, true);
  assert.equal(request.headers['content-type'], 'application/json');
  const body = JSON.parse(request.body!);
  assert.match(body.email, /^lab-[0-9a-z]{7}-12@example\.com$/);
  const other = JSON.parse(compileTemplate(registration, { ...context, stream: 'other' })(12).body!);
  assert.notEqual(other.email, body.email, 'another stream of the run, another address');
  const long = JSON.parse(compileTemplate(registration, { ...context, runId: 'x'.repeat(120) })(9_999_999).body!);
  assert.ok(long.email.split('@')[0].length <= 64, 'the local part stays a valid length');
  assert.match(body.id, UUID);
  assert.equal(request.headers['idempotency-key'], body.id, 'one uuid per request');
  assert.equal(body.n, 12);
  assert.equal(body.label, 'user 12 of run1');
  assert.equal(typeof body.fail, 'boolean');
  assert.deepEqual(body.nested, [{ always: true, never: false }]);
  assert.deepEqual(body.fixed, { a: 1, b: [true, null] });
});

test('same seed, same requests, in any order; another seed, other uuids', () => {
  const a = compileTemplate(registration, context);
  const b = compileTemplate(registration, context);
  const forward = Array.from({ length: 50 }, (_, i) => a(i));
  const backward = Array.from({ length: 50 }, (_, i) => b(49 - i)).reverse();
  assert.deepEqual(forward, backward);
  const other = compileTemplate(registration, { ...context, seed: 8 })(0);
  assert.notEqual(JSON.parse(other.body!).id, JSON.parse(forward[0]!.body!).id);
});

test('emails and uuids are unique per request; chance matches its probability', () => {
  const build = compileTemplate(registration, context);
  const emails = new Set<string>();
  const uuids = new Set<string>();
  let failures = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const body = JSON.parse(build(i).body!);
    emails.add(body.email);
    uuids.add(body.id);
    if (body.fail) failures++;
  }
  assert.equal(emails.size, n);
  assert.equal(uuids.size, n);
  // Binomial(20000, 0.2): σ ≈ 57; ±400 is 7σ.
  assert.ok(Math.abs(failures - 0.2 * n) < 400, `${failures} failures`);
});

test('a template without placeholders is serialized once; headers may override content-type', () => {
  const build = compileTemplate(
    { method: 'PUT', path: '/x', body: 'text', headers: { 'Content-Type': 'text/plain' } },
    context,
  );
  assert.equal(build(0).body, '"text"');
  assert.equal(build(0).headers['content-type'], 'text/plain');
  assert.equal(compileTemplate({ method: 'GET', path: '/q' }, context)(3).body, null);
});

test('every problem is reported at once', () => {
  assert.throws(
    () =>
      compileTemplate(
        { method: 'FETCH', path: 'x/{{nope}}', body: { p: '{{chance:2}}', q: '{{chance}}' } },
        { runId: 'bad id', seed: 1, stream: 's' },
      ),
    (error: Error) => {
      for (const part of ['method', 'path must start', 'runId', '{{nope}}', '{{chance:2}}', '{{chance}}']) {
        assert.ok(error.message.includes(part), `${part} in ${error.message}`);
      }
      return true;
    },
  );
});
