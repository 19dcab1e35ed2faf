// How the sales service reads ids from paths and decides that two identity documents are the same.

/** Ids are the positive integers the write side hands out (1, 2, …), as the seed's clients used them. */
const ID = /^[1-9][0-9]{0,14}$/;

/** The id in a path segment, or undefined when the segment cannot be one (answered as not found). */
export function parseId(text: string): number | undefined {
  return ID.test(text) ? Number(text) : undefined;
}

/**
 * The key (tipo_documento, numero_documento) uniqueness is enforced on: case, spaces, dots and
 * hyphens do not make another document ("1.020.304" and "1020304" are the same cédula).
 */
export function documentKey(numero: string): string {
  return numero.replace(/[\s.-]/g, '').toUpperCase();
}
