import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDetector, type DetectorSettings, type Echo, type EchoKind } from './detector.ts';
import type { Transition } from './types.ts';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A detector fed one echo per 100 ms tick: each echo is sent at T0 + 100·i and decided 10 ms later.
 * Returns every transition, in order, with the tick it happened on.
 */
function run(settings: DetectorSettings, kinds: EchoKind[]) {
  const detector = createDetector({ instance: 'sales-queries-1', service: 'sales-queries' }, settings, T0);
  const transitions: { tick: number; transition: Transition }[] = [];
  kinds.forEach((kind, tick) => {
    const echo: Echo = { kind, sentAt: T0 + 100 * tick, reason: `${kind} #${tick}` };
    const transition = detector.observe(echo, T0 + 100 * tick + 10);
    if (transition !== undefined) transitions.push({ tick, transition });
  });
  return { detector, transitions };
}

const moves = (r: ReturnType<typeof run>) => r.transitions.map(({ tick, transition }) => `${tick}:${transition.to}`);
const S22 = { failureThreshold: 2, successThreshold: 2 };

test('starts unknown, since its creation, and decides nothing on a single answer or miss', () => {
  const detector = createDetector({ instance: 'a-1', service: 'a' }, S22, T0);
  assert.equal(detector.state, 'unknown');
  assert.equal(detector.since, T0);
  assert.equal(moves(run(S22, ['ready'])).length, 0);
  assert.equal(moves(run(S22, ['miss'])).length, 0);
});

test('down after failureThreshold consecutive misses, timed from the first of them', () => {
  const r = run({ failureThreshold: 3, successThreshold: 2 }, ['ready', 'ready', 'miss', 'miss', 'miss', 'miss']);
  assert.deepEqual(moves(r), ['1:up', '4:down']);
  assert.deepEqual(r.transitions[1]!.transition, {
    instance: 'sales-queries-1',
    service: 'sales-queries',
    from: 'up',
    to: 'down',
    time: iso(T0 + 410),
    firstMissAt: iso(T0 + 200),
    detectionMs: 210,
    count: 3,
    reason: 'miss #4',
  });
  assert.equal(r.detector.state, 'down');
  assert.equal(r.detector.since, T0 + 410);
});

test('down straight from unknown (an instance that never answered)', () => {
  const r = run(S22, ['miss', 'miss']);
  assert.deepEqual(moves(r), ['1:down']);
  assert.equal(r.transitions[0]!.transition.from, 'unknown');
  assert.equal(r.transitions[0]!.transition.firstMissAt, iso(T0));
  assert.equal(r.transitions[0]!.transition.detectionMs, 110);
});

test('an answer of either kind breaks a run of misses', () => {
  assert.deepEqual(moves(run(S22, ['ready', 'ready', 'miss', 'ready', 'miss', 'ready'])), ['1:up']);
  // not-ready is an answer too: it moves to syncing but restarts the miss count.
  const r = run(S22, ['ready', 'ready', 'miss', 'not-ready', 'miss', 'miss']);
  assert.deepEqual(moves(r), ['1:up', '3:syncing', '5:down']);
  assert.equal(r.transitions[2]!.transition.firstMissAt, iso(T0 + 400), 'the run started after the answer');
});

test('more misses while down decide nothing; the next outage is timed from its own first miss', () => {
  const r = run(S22, ['miss', 'miss', 'miss', 'miss', 'ready', 'ready', 'miss', 'miss']);
  assert.deepEqual(moves(r), ['1:down', '5:up', '7:down']);
  assert.equal(r.transitions[2]!.transition.firstMissAt, iso(T0 + 600));
  assert.equal(r.transitions[2]!.transition.count, 2);
});

test('up after successThreshold consecutive ready answers, from unknown with the same threshold', () => {
  const r = run({ failureThreshold: 2, successThreshold: 3 }, ['ready', 'ready', 'ready', 'ready']);
  assert.deepEqual(moves(r), ['2:up']);
  assert.deepEqual(r.transitions[0]!.transition, {
    instance: 'sales-queries-1',
    service: 'sales-queries',
    from: 'unknown',
    to: 'up',
    time: iso(T0 + 210),
    firstMissAt: null,
    detectionMs: null,
    count: 3,
    reason: 'ready #2',
  });
});

test('a miss or a not-ready answer restarts the count of ready answers', () => {
  assert.deepEqual(moves(run(S22, ['miss', 'miss', 'ready', 'miss', 'ready', 'ready'])), ['1:down', '5:up']);
  assert.deepEqual(moves(run(S22, ['ready', 'not-ready', 'ready', 'ready'])), ['1:syncing', '3:up']);
});

test('not-ready means syncing at once from unknown, up and down, and only once', () => {
  assert.deepEqual(moves(run(S22, ['not-ready', 'not-ready', 'not-ready'])), ['0:syncing']);
  assert.deepEqual(moves(run(S22, ['ready', 'ready', 'not-ready'])), ['1:up', '2:syncing']);
  const fromDown = run(S22, ['miss', 'miss', 'not-ready', 'ready', 'ready']);
  assert.deepEqual(moves(fromDown), ['1:down', '2:syncing', '4:up']);
  const syncing = fromDown.transitions[1]!.transition;
  assert.equal(syncing.from, 'down');
  assert.equal(syncing.count, 1);
  assert.equal(syncing.firstMissAt, null);
  assert.equal(syncing.detectionMs, null);
  assert.equal(syncing.reason, 'not-ready #2');
});

test('syncing goes down after failureThreshold misses', () => {
  const r = run(S22, ['not-ready', 'miss', 'miss']);
  assert.deepEqual(moves(r), ['0:syncing', '2:down']);
  assert.equal(r.transitions[1]!.transition.from, 'syncing');
});

test('thresholds of 1: the first miss is down, the first ready answer is up', () => {
  const S11 = { failureThreshold: 1, successThreshold: 1 };
  const r = run(S11, ['ready', 'ready', 'miss', 'miss', 'ready', 'not-ready', 'ready']);
  assert.deepEqual(moves(r), ['0:up', '2:down', '4:up', '5:syncing', '6:up']);
  const down = r.transitions[1]!.transition;
  assert.equal(down.firstMissAt, iso(T0 + 200));
  assert.equal(down.detectionMs, 10);
  assert.equal(down.count, 1);
  assert.equal(r.transitions[2]!.transition.count, 1);
});

test('the detection time is measured against the decision time passed in', () => {
  const detector = createDetector({ instance: 'a-1', service: 'a' }, S22, T0);
  assert.equal(detector.observe({ kind: 'miss', sentAt: T0, reason: 'ECONNREFUSED' }, T0 + 1), undefined);
  const down = detector.observe({ kind: 'miss', sentAt: T0 + 100, reason: 'timeout after 50 ms' }, T0 + 150);
  assert.equal(down?.detectionMs, 150);
  assert.equal(down?.reason, 'timeout after 50 ms');
});

test('thresholds must be positive integers', () => {
  const identity = { instance: 'a-1', service: 'a' };
  assert.throws(() => createDetector(identity, { failureThreshold: 0, successThreshold: 1 }, T0), /failureThreshold/);
  assert.throws(() => createDetector(identity, { failureThreshold: 1, successThreshold: 1.5 }, T0), /successThreshold/);
});
