// Where each instance of a running system listens: the supervisor writes data/placement.json before
// it starts the monitor and the gateway, which read it (ports are chosen once and kept across
// restarts, so the file stays true for the whole run).
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const PLACEMENT_FILE = 'placement.json';

export interface PlacedInstance {
  /** `<service>-<n>` or `<service>-spare-<n>`. */
  name: string;
  service: string;
  url: string;
  /** A passive spare: not running until its primary fails (cold), or running without traffic (warm). */
  spare: boolean;
}

export interface Placement {
  /** Service → base URLs of its (non-spare) instances in declared order. */
  services: Record<string, string[]>;
  /** Every instance, spares included, in declared order. */
  instances: PlacedInstance[];
  /** The monitor's base URL (its event feed is GET <monitor>/events); null when none runs. */
  monitor: string | null;
}

export function placementOf(instances: PlacedInstance[], monitor: string | null): Placement {
  const services: Record<string, string[]> = {};
  for (const instance of instances) {
    if (!instance.spare) services[instance.service] = [...(services[instance.service] ?? []), instance.url];
  }
  return { services, instances, monitor };
}

/** Service → base URLs of its spares, in order. */
export function sparesOf(placement: Placement): Record<string, string[]> {
  const spares: Record<string, string[]> = {};
  for (const instance of placement.instances) {
    if (instance.spare) spares[instance.service] = [...(spares[instance.service] ?? []), instance.url];
  }
  return spares;
}

export async function readPlacement(dataDir: string): Promise<Placement> {
  const parsed = JSON.parse(await readFile(path.join(dataDir, PLACEMENT_FILE), 'utf8')) as Partial<Placement>;
  const services = parsed.services ?? {};
  // A file with only `services` (hand-written, or older) still names its instances the standard way.
  const instances =
    parsed.instances ??
    Object.entries(services).flatMap(([service, urls]) =>
      urls.map((url, i) => ({ name: `${service}-${i + 1}`, service, url, spare: false })),
    );
  return { services, instances, monitor: parsed.monitor ?? null };
}

export async function writePlacement(dataDir: string, placement: Placement): Promise<void> {
  const file = path.join(dataDir, PLACEMENT_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(placement, null, 2)}\n`);
  await rename(tmp, file);
}
