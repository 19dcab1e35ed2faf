// A small seeded PRNG for the load generator: schedules (Poisson gaps) and request templates draw from
// it so a run is reproducible from its seed. sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG):
// 128 bits of state, fast in plain 32-bit integer arithmetic, good enough statistically for load
// shapes and flags. Never for secrets.

/** FNV-1a, 32 bits: turns a string (a run id, a stream name) into a seed word. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A reseedable sfc32 generator; one instance can be reseeded per request to avoid allocating. */
export class Random {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;

  constructor(...words: number[]) {
    this.seed(words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0);
  }

  /** Resets the state from four words (any numbers; each is folded to 32 bits). */
  seed(a: number, b: number, c: number, d: number): void {
    this.#a = a >>> 0;
    this.#b = b >>> 0;
    this.#c = c >>> 0;
    this.#d = (d ^ 0x9e3779b9) >>> 0;
    // Discard the first outputs: with similar seeds (consecutive request indexes) they are correlated.
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniformly distributed number in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }
}
