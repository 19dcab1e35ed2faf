// A small HDR-style latency histogram: log-linear buckets over integer microseconds. Values below
// 2^SUB_BITS µs each get their own bucket; above, every power-of-two range is split into
// 2^(SUB_BITS-1) equal buckets, so a bucket is never wider than 1/128 of the values in it. That is
// "2 significant digits" in HDR terms, in constant memory whatever the rate.
//
// percentile() answers with the highest value of the bucket the rank falls in (clamped to the
// exact recorded max), so a figure is never lower than the exact one and at most
// RELATIVE_ERROR (+ 1 µs of rounding) higher: a threshold that holds on the histogram holds exactly.

const SUB_BITS = 8;
const SUB_COUNT = 1 << SUB_BITS; // 256
const HALF = SUB_COUNT >> 1; // 128 buckets per power of two above the linear range

/** Upper bound of the relative error of a reported percentile (it only ever rounds up). */
export const RELATIVE_ERROR = 1 / HALF;

/** The precision in words, for the report. */
export const PRECISION_NOTE =
  'latency percentiles come from a log-linear (HDR-style) histogram with 1 µs resolution and 2 significant digits: ' +
  'each figure is rounded up, by at most 0.8 % (+1 µs); max is exact';

export interface Histogram {
  record(valueMs: number): void;
  readonly count: number;
  /** Exact largest recorded value, ms; 0 when empty. */
  readonly maxMs: number;
  /** Nearest-rank percentile (0..100), ms; 0 when empty. */
  percentile(p: number): number;
}

function bucketOf(us: number): number {
  if (us < SUB_COUNT) return us;
  const magnitude = 31 - Math.clz32(us); // floor(log2(us)) ≥ SUB_BITS
  const shift = magnitude - (SUB_BITS - 1);
  // us >> shift is in [HALF, SUB_COUNT): the top SUB_BITS bits of the value
  return SUB_COUNT + (shift - 1) * HALF + ((us >>> shift) - HALF);
}

/** The highest microsecond value that falls in the bucket. */
function highestOf(bucket: number): number {
  if (bucket < SUB_COUNT) return bucket;
  const shift = Math.floor((bucket - SUB_COUNT) / HALF) + 1;
  const top = ((bucket - SUB_COUNT) % HALF) + HALF;
  return (top + 1) * 2 ** shift - 1;
}

// clz32 limits values to 2^31 µs (~36 minutes), far beyond any request a run waits for.
const MAX_US = 2 ** 31 - 1;

export function createHistogram(): Histogram {
  const counts: number[] = [];
  let count = 0;
  let maxUs = 0;
  let maxMs = 0;
  return {
    record(valueMs) {
      const ms = Number.isFinite(valueMs) && valueMs > 0 ? valueMs : 0;
      const us = Math.min(MAX_US, Math.round(ms * 1000));
      const bucket = bucketOf(us);
      counts[bucket] = (counts[bucket] ?? 0) + 1;
      count++;
      if (ms > maxMs) maxMs = ms;
      if (us > maxUs) maxUs = us;
    },
    get count() {
      return count;
    },
    get maxMs() {
      return maxMs;
    },
    percentile(p) {
      if (count === 0) return 0;
      const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * count));
      let seen = 0;
      for (let bucket = 0; bucket < counts.length; bucket++) {
        seen += counts[bucket] ?? 0;
        if (seen < rank) continue;
        const highest = highestOf(bucket);
        return highest >= maxUs ? maxMs : highest / 1000;
      }
      return maxMs;
    },
  };
}
