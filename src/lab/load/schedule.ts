// Open-model arrival schedules: when each request of a load stream is due, as offsets in ms from the
// start of the run, computed up front and independent of how the system answers (an open model never
// waits for an answer before sending the next request). Pure: the same schedule and seed always give
// the same offsets.
import { Random } from './random.ts';

/** `uniform`: evenly spaced within each step. `poisson`: exponential gaps (seeded), the same mean rate. */
export type Arrivals = 'uniform' | 'poisson';

export interface Step {
  /** Requests per second; 0 is a pause. */
  rate: number;
  durationMs: number;
}

interface Common {
  /** Stop after this many requests, whatever the steps still hold. */
  maxRequests?: number;
  /** Default `uniform`. */
  arrivals?: Arrivals;
}

/** Constant (`{ rate, durationMs }`) or stepped (`{ steps }`): told apart by the `steps` field. */
export type Schedule = (Step | { steps: readonly Step[] }) & Common;

const isStepped = (schedule: Schedule): schedule is { steps: readonly Step[] } & Common => 'steps' in schedule;

/**
 * The most requests one schedule may hold. Every request becomes a RequestRecord kept in memory
 * (a few hundred bytes each), so this bounds a stream to about a gigabyte.
 */
export const MAX_REQUESTS_PER_SCHEDULE = 5_000_000;

export function stepsOf(schedule: Schedule): readonly Step[] {
  return isStepped(schedule) ? schedule.steps : [{ rate: schedule.rate, durationMs: schedule.durationMs }];
}

export function scheduleDurationMs(schedule: Schedule): number {
  return stepsOf(schedule).reduce((sum, step) => sum + step.durationMs, 0);
}

// Uniform count of a step: sends at i·(1000/rate) for every i with that time < durationMs. The epsilon
// keeps an exact product (200 req/s × 1000 ms) from gaining a request to floating-point error.
const uniformCount = (step: Step) => Math.max(0, Math.ceil((step.rate * step.durationMs) / 1000 - 1e-9));

/** Every problem with the schedule (empty when it is valid), each naming the field. */
export function scheduleProblems(schedule: Schedule): string[] {
  const problems: string[] = [];
  if (typeof schedule !== 'object' || schedule === null) return ['schedule must be an object'];
  if (isStepped(schedule) && (!Array.isArray(schedule.steps) || schedule.steps.length === 0)) {
    problems.push('steps must be a non-empty list');
  }
  const steps = Array.isArray(stepsOf(schedule)) ? stepsOf(schedule) : [];
  steps.forEach((step, i) => {
    const where = isStepped(schedule) ? `steps[${i}].` : '';
    if (!(Number.isFinite(step.rate) && step.rate >= 0)) problems.push(`${where}rate must be a number ≥ 0 (req/s)`);
    if (!(Number.isFinite(step.durationMs) && step.durationMs > 0)) problems.push(`${where}durationMs must be > 0`);
  });
  const { maxRequests, arrivals } = schedule;
  if (maxRequests !== undefined && !(Number.isInteger(maxRequests) && maxRequests >= 0)) {
    problems.push('maxRequests must be an integer ≥ 0');
  }
  if (arrivals !== undefined && arrivals !== 'uniform' && arrivals !== 'poisson') {
    problems.push(`arrivals must be uniform or poisson, not ${String(arrivals)}`);
  }
  if (problems.length === 0) {
    const expected = Math.min(
      maxRequests ?? Number.POSITIVE_INFINITY,
      steps.reduce((n, s) => n + uniformCount(s), 0),
    );
    if (expected > MAX_REQUESTS_PER_SCHEDULE) {
      problems.push(`holds ${expected} requests, over the limit of ${MAX_REQUESTS_PER_SCHEDULE}`);
    }
  }
  return problems;
}

/**
 * The send offsets (ms from the start of the run), ascending. Uniform arrivals are exact: a constant
 * 200 req/s for 1000 ms gives 200 offsets, 0, 5, 10, … 995. Poisson arrivals draw exponential gaps
 * from `seed`, restarting at each step boundary (memoryless, so this changes nothing statistically).
 */
export function sendOffsets(schedule: Schedule, seed = 0): Float64Array {
  const problems = scheduleProblems(schedule);
  if (problems.length > 0) throw new RangeError(`invalid schedule: ${problems.join('; ')}`);
  const limit = schedule.maxRequests ?? Number.POSITIVE_INFINITY;
  const offsets: number[] = [];
  const random = new Random(seed, 0x5c4ed01e);
  let start = 0;
  for (const step of stepsOf(schedule)) {
    const end = start + step.durationMs;
    if (step.rate > 0) {
      const gapMs = 1000 / step.rate;
      if (schedule.arrivals === 'poisson') {
        // An exponential gap with mean gapMs: −ln(1 − u)·gapMs, u uniform in [0, 1).
        const gap = () => -Math.log(1 - random.next()) * gapMs;
        for (let at = start + gap(); at < end && offsets.length < limit; at += gap()) offsets.push(at);
      } else {
        const count = uniformCount(step);
        for (let i = 0; i < count && offsets.length < limit; i++) offsets.push(start + i * gapMs);
      }
    }
    if (offsets.length >= limit) break;
    start = end;
  }
  return Float64Array.from(offsets);
}
