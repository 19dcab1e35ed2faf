// `archlab status [--json]`: every instance of the running system with its state, health (the
// monitor's word), pid, port and role.
import path from 'node:path';
import type { InstanceStatus } from '../../supervisor/run-file.ts';
import { DEFAULT_DATA_DIR } from '../args.ts';
import { connectSupervisor } from '../supervisor-client.ts';

export async function status(options: { data?: string | undefined; json?: boolean | undefined }): Promise<void> {
  const dataDir = path.resolve(options.data ?? DEFAULT_DATA_DIR);
  const client = await connectSupervisor(dataDir);
  const { instances } = await client.call<{ instances: InstanceStatus[] }>('GET', '/instances');
  if (options.json) {
    process.stdout.write(`${JSON.stringify(instances, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatStatus(instances));
}

/** A fixed-width table, one instance a line. */
export function formatStatus(instances: readonly InstanceStatus[]): string {
  const rows = [
    ['INSTANCE', 'STATE', 'HEALTH', 'PID', 'PORT', 'ROLE', 'RESTARTS'],
    ...instances.map((i) => [
      i.name,
      i.state,
      i.health ?? '-',
      i.pid === null ? '-' : String(i.pid),
      String(i.port),
      i.spare ? `${i.role} (spare)` : i.role,
      String(i.restarts),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}
