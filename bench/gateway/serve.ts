// The child side of processes.ts: a bench program tells the parent where it serves, and closes and
// exits when asked (SIGTERM, SIGINT) or orphaned (its IPC channel closed). Exiting through
// process.exit() rather than by a signal is what lets a --cpu-prof child write its profile.
import type { Ready } from './processes.ts';

// A close that hangs (a connection still busy) must not keep the bench waiting or lose the profile.
const CLOSE_DEADLINE_MS = 3000;

export function announce(ready: Ready, close: () => Promise<void>) {
  let stopping = false;
  function stop() {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), CLOSE_DEADLINE_MS).unref();
    close().finally(() => process.exit(0));
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.send?.(ready);
}
