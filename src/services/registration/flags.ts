// The seed's simulate_failure* flags, parsed as real booleans. The seed's Python read `bool("False")`
// (true): here "False", "false", "0", "" and absence are false, and anything that does not look like a
// boolean is refused with 400 instead of guessed.
import { AppError } from '../../kit/errors.ts';
import { RegistrationErrors } from './errors.ts';

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off', '']);

/** Which stages of the chain fail on purpose. */
export interface FailureFlags {
  principal: boolean;
  redundancy1: boolean;
  redundancy2: boolean;
}

/** The seed's field names, in chain order. */
export const FLAG_FIELDS = {
  principal: 'simulate_failure',
  redundancy1: 'simulate_failure_r1',
  redundancy2: 'simulate_failure_r2',
} as const satisfies Record<keyof FailureFlags, string>;

export function parseFlag(name: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
  }
  const shown = typeof value === 'string' ? `"${value.slice(0, 40)}"` : JSON.stringify(value)?.slice(0, 40);
  throw new AppError(
    400,
    RegistrationErrors.INVALID_FAILURE_FLAG,
    `${name} must be a boolean (true/false, 1/0, yes/no, on/off or empty), not ${shown}`,
  );
}

/** Reads the three flags from a JSON body or a query string. */
export function parseFailureFlags(source: Record<string, unknown>): FailureFlags {
  return {
    principal: parseFlag(FLAG_FIELDS.principal, source[FLAG_FIELDS.principal]),
    redundancy1: parseFlag(FLAG_FIELDS.redundancy1, source[FLAG_FIELDS.redundancy1]),
    redundancy2: parseFlag(FLAG_FIELDS.redundancy2, source[FLAG_FIELDS.redundancy2]),
  };
}

export const allFlagsSet = (flags: FailureFlags) => flags.principal && flags.redundancy1 && flags.redundancy2;
