// Product values are exact: a decimal with at most 2 places, kept as integer cents end to end
// (store, events, replicas), shown as a JSON number again only in answers.

/** Largest value accepted, in cents: far below 2^53, so sums of many stay exact too. */
export const MAX_CENTS = 1e14;

/** Integer cents for `value`, or undefined when it is negative, too large or has a third decimal. */
export function toCents(value: number): number | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  const scaled = value * 100;
  const cents = Math.round(scaled);
  // 0.1 * 100 is 10.000000000000002 in binary floating point: tolerate that, not a real third decimal.
  if (Math.abs(scaled - cents) > 1e-6 || cents > MAX_CENTS) return undefined;
  return cents;
}

export const fromCents = (cents: number): number => cents / 100;
