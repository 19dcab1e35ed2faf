// Number formatting shared by the verdict, the Markdown and the HTML: fixed digits, so a report
// renders byte for byte the same from the same report.json.

export const NOT_MEASURED = 'not measured';

/** A fraction 0..1 as a percentage with 3 decimals ("99.950 %"). */
export function percent(fraction: number | null): string {
  return fraction === null ? '–' : `${(fraction * 100).toFixed(3)} %`;
}

/** Milliseconds: 1 decimal below 100 ms, whole above ("12.3 ms", "1520 ms"). */
export function ms(value: number | null): string {
  if (value === null) return '–';
  return `${Math.abs(value) < 100 ? value.toFixed(1) : value.toFixed(0)} ms`;
}

/** A plain number with at most `digits` decimals, trailing zeros removed. */
export function num(value: number, digits = 2): string {
  return String(Number(value.toFixed(digits)));
}

/** The worst figure over the faults, noting faults that have none ("350.0 ms, 1 of 2 missing"). */
export function worstText(worst: { worstMs: number | null; missing: number; faults: number }): string {
  if (worst.faults === 0) return '–';
  const missing = worst.missing === 0 ? '' : `${worst.missing} of ${worst.faults} missing`;
  if (worst.worstMs === null) return missing;
  return missing === '' ? ms(worst.worstMs) : `${ms(worst.worstMs)}, ${missing}`;
}
