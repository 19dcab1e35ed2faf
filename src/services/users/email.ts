// Email syntax: a practical subset of RFC 5321 — dot-atom local part, a domain of at least two
// LDH labels. Quoted local parts and IP-literal domains are refused on purpose (nobody registers with them).
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isValidEmail(email: string): boolean {
  if (email.length > 254) return false;
  const at = email.lastIndexOf('@');
  if (at <= 0 || at > 64) return false;
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split('.');
  return (
    LOCAL.test(local) &&
    labels.length >= 2 &&
    labels.every((label) => LABEL.test(label)) &&
    !/^\d+$/.test(labels.at(-1)!)
  );
}

/** The key uniqueness is enforced on: addresses differing only in case are the same mailbox here. */
export const emailKey = (email: string) => email.toLowerCase();
