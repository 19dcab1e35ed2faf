import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Hypothesis, RequestRecord, RunRecord } from '../types.ts';
import { computeMetrics, judge, type Report, readReport, renderAgain, writeReport } from './index.ts';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');

async function tmp(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'archlab-report-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** 20 s at 20 req/s; registration-1 killed at 8 s, its half failing until 10 s. */
function run(variant: string, starved = false): RunRecord {
  const requests: RequestRecord[] = [];
  for (let i = 0; i < 400; i++) {
    const at = T0 + i * 50;
    const own = i % 2 === 0 ? 'registration-1' : 'registration-2';
    const failing = own === 'registration-1' && at >= T0 + 8000 && at < T0 + 10_000;
    const latencyMs = failing ? 1000 : 2 + (i % 7);
    requests.push({
      stream: 'register',
      index: i,
      method: 'POST',
      path: '/users',
      scheduledAt: at,
      sentAt: at + 0.2,
      endedAt: at + latencyMs,
      latencyMs,
      status: failing ? 0 : 201,
      error: failing ? 'timeout' : null,
      instance: failing ? null : at >= T0 + 8000 && own === 'registration-1' ? 'registration-2' : own,
      ticket: null,
      requestId: null,
      command: true,
    });
  }
  const transition = (offset: number, to: 'down' | 'up') => ({
    instance: 'registration-1',
    service: 'registration',
    from: to === 'down' ? ('up' as const) : ('down' as const),
    to,
    time: new Date(T0 + offset).toISOString(),
    firstMissAt: null,
    detectionMs: null,
    count: 3,
    reason: 'ECONNREFUSED',
  });
  return {
    experiment: 'x',
    variant,
    startedAt: T0,
    endedAt: T0 + 20_000,
    requests,
    faults: [
      { plannedMs: 8000, at: T0 + 8000, action: 'kill', target: 'registration-1', ok: true, error: null },
      { plannedMs: 14_000, at: T0 + 14_000, action: 'restart', target: 'registration-1', ok: true, error: null },
    ],
    transitions: [transition(8300, 'down'), transition(15_000, 'up')],
    generator: {
      lagP50Ms: 0.2,
      lagP99Ms: starved ? 40 : 0.9,
      lagMaxMs: starved ? 90 : 2,
      starved,
      loopDelayP99Ms: 1.1,
    },
    commands: {
      accepted: 360,
      persisted: 360,
      unverified: 0,
      projected: 360,
      deadLettered: 0,
      lost: 0,
      duplicates: 0,
      lagP50Ms: 4,
      lagP99Ms: 12,
    },
    counters: { retries: 7 },
  };
}

function report(experiment: string, variants: RunRecord[]): Report {
  const hypothesis: Hypothesis = {
    availability: { overall: 0.9, worstWindow: 0.9 },
    latencyMs: { p99: 500 },
    lostCommands: 0,
    detectionMs: 500,
  };
  return {
    experiment,
    file: 'experiments/passive.yaml',
    createdAt: '2025-01-01T00:00:30.000Z',
    command: 'archlab experiment run experiments/passive.yaml',
    hypothesis,
    variants: variants.map((r) => {
      const metrics = computeMetrics(r);
      return { name: r.variant, run: r, metrics, verdict: judge(metrics, hypothesis) };
    }),
  };
}

const read = (dir: string, file: string) => readFile(path.join(dir, file), 'utf8');

test('writes report.json, report.md and report.html with a chart per view and the fault markers', async (t) => {
  const dir = path.join(await tmp(t), 'reports', 'r1');
  const r = report('passive redundancy', [run('none'), run('passive', true)]);
  await writeReport(dir, r);
  assert.deepEqual(await readReport(dir), r);

  const md = await read(dir, 'report.md');
  assert.match(md, /^# passive redundancy: some hypothesis line fails/);
  assert.match(md, /\| availability\.worstWindow \| ≥ 90\.000 % \| 50\.000 % \(window at 8 s\) \| \*\*FAILS\*\* \|/);
  assert.match(md, /\*\*passive: the generator was the bottleneck\*\*/);
  assert.match(
    md,
    /Faults carried out: 8 s kill registration-1; 14 s restart registration-1\./,
    'restart is listed too',
  );
  assert.doesNotMatch(md, /none: the generator was the bottleneck/);
  assert.match(md, /## Comparison/);
  assert.match(md, /archlab experiment run experiments\/passive\.yaml/);
  assert.match(md, /2 significant digits/);

  const html = await read(dir, 'report.html');
  // two variants × (timeline + latency) + two comparison bar charts
  assert.equal(html.match(/<svg /g)?.length, 6);
  assert.equal(html.match(/<\/svg>/g)?.length, 6);
  assert.match(html, />kill registration-1</);
  assert.match(html, />restart registration-1</);
  assert.match(html, />DOWN registration-1</);
  assert.match(html, />UP registration-1</);
  assert.match(html, /The generator was the bottleneck/);
  assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
});

test('one variant: no comparison; every string is escaped', async (t) => {
  const dir = await tmp(t);
  const evil = '<script>alert("x")</script> & co';
  const r = report(evil, [run('<b>v</b>')]);
  await writeReport(dir, r);
  const html = await read(dir, 'report.html');
  assert.doesNotMatch(html, /<script>/);
  assert.doesNotMatch(html, /<b>v<\/b>/);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; co/);
  assert.equal(html.match(/<svg /g)?.length, 2);
  assert.doesNotMatch(html, /Comparison/);
  assert.doesNotMatch(await read(dir, 'report.md'), /## Comparison/);
});

test('renderAgain gives byte-identical report.md and report.html from report.json', async (t) => {
  const dir = await tmp(t);
  await writeReport(dir, report('again', [run('a'), run('b', true)]));
  const md = await read(dir, 'report.md');
  const html = await read(dir, 'report.html');
  await rm(path.join(dir, 'report.md'));
  await rm(path.join(dir, 'report.html'));
  const again = await renderAgain(dir);
  assert.equal(again.experiment, 'again');
  assert.equal(await read(dir, 'report.md'), md);
  assert.equal(await read(dir, 'report.html'), html);
});

test('an empty run renders without charts data and without throwing', async (t) => {
  const dir = await tmp(t);
  const empty: RunRecord = { ...run('empty'), requests: [], faults: [], transitions: [] };
  await writeReport(dir, report('empty', [empty]));
  const html = await read(dir, 'report.html');
  assert.equal(html.match(/<svg /g)?.length, 2);
  assert.match(html, /no requests recorded/);
  assert.match(await read(dir, 'report.md'), /not measured/);
});
