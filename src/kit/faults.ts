// Named fault switches a process exposes for experiments (off unless someone turns them on): the
// program decides what each name does; the kit only stores them and serves /_admin/faults.
export type FaultValue = string | number | boolean;

export interface Faults {
  get(name: string): FaultValue | undefined;
  isOn(name: string): boolean;
  set(name: string, value: FaultValue): void;
  clear(name: string): void;
  all(): Record<string, FaultValue>;
}

/** `spec` is the ARCHLAB_FAULTS form: comma-separated `name` or `name=value`. */
export function createFaults(spec = ''): Faults {
  const faults = new Map<string, FaultValue>();
  for (const part of spec.split(',')) {
    const [name, value] = part.split('=', 2).map((s) => s.trim());
    if (name) faults.set(name, value === undefined ? true : value);
  }
  return {
    get: (name) => faults.get(name),
    isOn: (name) => {
      const value = faults.get(name);
      return value !== undefined && value !== false && value !== 'false' && value !== 0;
    },
    set: (name, value) => void faults.set(name, value),
    clear: (name) => void faults.delete(name),
    all: () => Object.fromEntries(faults),
  };
}
