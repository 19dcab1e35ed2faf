// registration-commands' routes through app.inject, on an in-memory bus with no registrar behind it.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { Bus } from '../../bus/bus.ts';
import { createBus } from '../../bus/create-bus.ts';
import { AppError } from '../../kit/errors.ts';
import { createLogger } from '../../kit/logger.ts';
import { createService } from '../../kit/service.ts';
import { Queues, type RegistrationJob } from './chain.ts';
import { PING_FAILURES_STREAM, PINGS_STREAM } from './events.ts';
import { startRequester } from './request-reply.ts';
import { registrationRoutes, SEED_000 } from './routes.ts';

const log = createLogger({ level: 'silent' });

async function app(t: TestContext, wrap: (bus: Bus) => Pick<Bus, 'enqueue' | 'append'> = (bus) => bus) {
  const bus = await createBus('sqlite::memory:', { pollIntervalMs: 5 });
  const requester = startRequester(bus, { replyQueue: 'registration.replies.test', log });
  const service = createService({
    service: 'registration-commands',
    instance: 'registration-commands-1',
    role: 'command',
    log,
  });
  registrationRoutes(service.app, { bus: wrap(bus), requester, queryTimeoutMs: 100 });
  t.after(async () => {
    await service.close();
    await requester.close();
    await bus.close();
  });
  // Leases every job waiting on the principal queue (there is no registrar here) and returns them.
  const queued = async () => {
    const jobs: RegistrationJob[] = [];
    const counts = await bus.counts(Queues.PRINCIPAL);
    if (counts.waiting === 0) return jobs;
    await new Promise<void>((resolve) => {
      const consumer = bus.consume(Queues.PRINCIPAL, async (job) => {
        jobs.push(job.payload as RegistrationJob);
        if (jobs.length === counts.waiting) {
          resolve();
          void consumer.close();
        }
      });
    });
    return jobs;
  };
  return { bus, inject: service.app.inject.bind(service.app), queued };
}

test('POST /api/v1/users: 202 with the seed’s body once the job is on the bus; a repeat enqueues nothing', async (t) => {
  const { bus, inject, queued } = await app(t);
  const res = await inject({ method: 'POST', url: '/api/v1/users', payload: { email: 'Ada@example.com' } });
  assert.equal(res.statusCode, 202);
  assert.deepEqual(res.json(), { status: 'success', message: SEED_000.RECEIVED });
  assert.equal(res.headers.location, '/api/v1/users/status?email=Ada%40example.com');
  const again = await inject({ method: 'POST', url: '/api/v1/users', payload: { email: 'ada@EXAMPLE.com' } });
  assert.equal(again.statusCode, 202);
  assert.equal((await bus.counts(Queues.PRINCIPAL)).waiting, 1, 'the same registration is one job');
  const [job] = await queued();
  assert.equal(job!.email, 'Ada@example.com');
  assert.deepEqual(job!.flags, { principal: false, redundancy1: false, redundancy2: false });
  assert.equal(job!.failureUuid, null);
});

test('all three flags → the latency message; flags parse as real booleans ("False", "0", "" are false)', async (t) => {
  const { inject, queued } = await app(t);
  const late = await inject({
    method: 'POST',
    url: '/api/v1/users',
    payload: {
      email: 'late@example.com',
      simulate_failure: true,
      simulate_failure_r1: 'True',
      simulate_failure_r2: 1,
      failure_uuid: 'f-1',
    },
  });
  assert.equal(late.statusCode, 202);
  assert.deepEqual(late.json(), { status: 'success', message: SEED_000.RECEIVED_LATE });
  const plain = await inject({
    method: 'POST',
    url: '/api/v1/users',
    payload: {
      email: 'plain@example.com',
      simulate_failure: 'False',
      simulate_failure_r1: '0',
      simulate_failure_r2: '',
    },
  });
  assert.deepEqual(plain.json(), { status: 'success', message: SEED_000.RECEIVED });
  const jobs = await queued();
  assert.deepEqual(
    jobs.map((job) => [job.email, job.flags, job.failureUuid]),
    [
      ['late@example.com', { principal: true, redundancy1: true, redundancy2: true }, 'f-1'],
      ['plain@example.com', { principal: false, redundancy1: false, redundancy2: false }, null],
    ],
  );
});

test('bad input → 400 with a code, and nothing is queued', async (t) => {
  const { bus, inject } = await app(t);
  const cases: [unknown, string][] = [
    [{}, 'validation_failed'],
    [{ email: 'not-an-email' }, 'invalid_email'],
    [{ email: 42 }, 'invalid_email'],
    [{ email: 'a@example.com', simulate_failure: 'maybe' }, 'invalid_failure_flag'],
    [{ email: 'a@example.com', simulate_failure_r2: 2 }, 'invalid_failure_flag'],
    [{ email: 'a@example.com', failure_uuid: '' }, 'invalid_failure_uuid'],
    [{ email: 'a@example.com', failure_uuid: 'has space' }, 'invalid_failure_uuid'],
  ];
  for (const [payload, code] of cases) {
    const res = await inject({ method: 'POST', url: '/api/v1/users', payload: payload as object });
    assert.equal(res.statusCode, 400, JSON.stringify(payload));
    assert.equal(res.json().error.code, code, JSON.stringify(payload));
  }
  assert.equal((await bus.counts(Queues.PRINCIPAL)).waiting, 0);
});

test('an enqueue the bus refuses reaches the client as 503 registration_enqueue_failed (the seed hid it)', async (t) => {
  const { inject } = await app(t, (bus) => ({
    append: bus.append.bind(bus),
    enqueue: async () => {
      throw new AppError(503, 'bus_unavailable', 'broker down');
    },
  }));
  const res = await inject({ method: 'POST', url: '/api/v1/users', payload: { email: 'a@example.com' } });
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().error.code, 'registration_enqueue_failed');
});

test('GET /ping: Echo in the ping log; all three flags → "Ping failure received." in both logs', async (t) => {
  const { bus, inject } = await app(t);
  const echo = await inject({ method: 'GET', url: '/ping' });
  assert.equal(echo.statusCode, 200);
  const body = echo.json();
  assert.equal(body.status, 'success');
  assert.equal(body.message, SEED_000.ECHO);
  assert.match(body.ping_id, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(body.ping_datetime)));
  // Present but empty is false, like "False" and "0".
  const empty = await inject({ method: 'GET', url: '/ping?simulate_failure&simulate_failure_r1&simulate_failure_r2' });
  assert.equal(empty.json().message, SEED_000.ECHO);
  const failed = await inject({
    method: 'GET',
    url: '/ping?simulate_failure=true&simulate_failure_r1=1&simulate_failure_r2=True',
  });
  assert.equal(failed.json().message, SEED_000.PING_FAILURE);
  const bad = await inject({ method: 'GET', url: '/ping?simulate_failure=perhaps' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'invalid_failure_flag');

  const pings = await bus.read(PINGS_STREAM, { after: 0 });
  assert.deepEqual(
    pings.map((e) => [e.id, e.type]),
    [
      [body.ping_id, 'ping.received'],
      [empty.json().ping_id, 'ping.received'],
      [failed.json().ping_id, 'ping.failure-received'],
    ],
  );
  const failures = await bus.read(PING_FAILURES_STREAM, { after: 0 });
  assert.deepEqual(
    failures.map((e) => e.data),
    [
      {
        ping_id: failed.json().ping_id,
        ping_datetime: failed.json().ping_datetime,
        simulate_failure: true,
        simulate_failure_r1: true,
        simulate_failure_r2: true,
      },
    ],
  );
});

test('GET /api/v1/users/status: 400 on a bad email; 504 reply_timeout when no registrar answers', async (t) => {
  const { bus, inject } = await app(t);
  const bad = await inject({ method: 'GET', url: '/api/v1/users/status?email=nope' });
  assert.equal(bad.statusCode, 400);
  const res = await inject({ method: 'GET', url: '/api/v1/users/status?email=a@example.com' });
  assert.equal(res.statusCode, 504);
  assert.equal(res.json().error.code, 'reply_timeout');
  assert.equal((await bus.counts(Queues.QUERIES)).waiting, 1, 'the query was sent over the bus');
});
