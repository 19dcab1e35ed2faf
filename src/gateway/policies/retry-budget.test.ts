import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRetryBudget } from './retry-budget.ts';

const options = { ratio: 0.2, minRetries: 2, windowMs: 1000 };

function spend(budget: ReturnType<typeof createRetryBudget>, now: number) {
  let granted = 0;
  while (budget.tryRetry(now)) granted++;
  return granted;
}

test('retries are capped at ratio × requests in the window', () => {
  const budget = createRetryBudget(options);
  for (let i = 0; i < 100; i++) budget.recordRequest(i);
  assert.equal(spend(budget, 100), 20);
});

test('a quiet service still gets the floor', () => {
  const budget = createRetryBudget(options);
  budget.recordRequest(0);
  assert.equal(spend(budget, 1), 2);
});

test('the window slides: old requests and retries stop counting', () => {
  const budget = createRetryBudget(options);
  for (let i = 0; i < 100; i++) budget.recordRequest(0);
  assert.equal(spend(budget, 0), 20);
  // 1.5 windows later nothing from t=0 counts: only the floor is left.
  assert.equal(spend(budget, 1500), 2);
  for (let i = 0; i < 50; i++) budget.recordRequest(1600);
  assert.equal(spend(budget, 1600), 8, '10 allowed by 50 requests, 2 already used in this window');
});

test('a retry storm against an always-failing service stays within the budget', () => {
  const budget = createRetryBudget(options);
  let retries = 0;
  let requests = 0;
  for (let now = 0; now < 10_000; now += 1) {
    budget.recordRequest(now);
    requests++;
    // Every attempt fails; each request would retry twice if allowed.
    for (let r = 0; r < 2; r++) if (budget.tryRetry(now)) retries++;
  }
  assert.ok(retries <= requests * 0.2 + 2 * 10, `${retries} retries for ${requests} requests`);
  assert.ok(retries >= requests * 0.15, 'the budget is used, not starved');
});
