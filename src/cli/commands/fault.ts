// `archlab fault kill|hang|resume|restart <instance> [--hold]`: a process fault on a running system,
// carried out by its supervisor (SIGKILL, SIGSTOP, SIGCONT, stop + start).
import path from 'node:path';
import type { InstanceStatus } from '../../supervisor/run-file.ts';
import type { FaultAction } from '../../supervisor/supervisor.ts';
import { DEFAULT_DATA_DIR, usage } from '../args.ts';
import { connectSupervisor } from '../supervisor-client.ts';

const ACTIONS: readonly FaultAction[] = ['kill', 'hang', 'resume', 'restart'];

export interface FaultOptions {
  action: string | undefined;
  instance: string | undefined;
  hold?: boolean | undefined;
  data?: string | undefined;
}

export async function fault(options: FaultOptions): Promise<void> {
  const { action, instance } = options;
  if (action === undefined || !ACTIONS.includes(action as FaultAction) || instance === undefined) {
    throw usage(`usage: archlab fault <${ACTIONS.join('|')}> <instance> [--hold] [--data DIR]`);
  }
  if (options.hold && action !== 'kill') throw usage('--hold goes with kill only');
  const client = await connectSupervisor(path.resolve(options.data ?? DEFAULT_DATA_DIR));
  const status = await client.call<InstanceStatus>(
    'POST',
    `/instances/${encodeURIComponent(instance)}/${action}`,
    options.hold ? { hold: true } : {},
  );
  process.stdout.write(
    `${action} ${status.name}: now ${status.state}${status.pid === null ? '' : ` (pid ${status.pid})`}\n`,
  );
}
