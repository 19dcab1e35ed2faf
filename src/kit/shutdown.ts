// Graceful shutdown for a process: on SIGTERM/SIGINT (or when the supervisor that spawned us with an
// IPC channel goes away, so no instance outlives its supervisor) run the closers in reverse order
// of registration, then exit. A second signal, or closers that overrun the grace period, exits at once.
import type { Logger } from './logger.ts';

export type Closer = () => Promise<void> | void;

export interface Shutdown {
  /** Registers a closer; closers run last-registered first. */
  add(name: string, closer: Closer): void;
  /** Runs the closers (once) and exits the process with `code`. */
  run(reason: string, code?: number): Promise<void>;
}

export function installShutdown(log: Logger, { graceMs = 10_000 } = {}): Shutdown {
  const closers: { name: string; closer: Closer }[] = [];
  let running: Promise<void> | undefined;

  const run = (reason: string, code = 0): Promise<void> => {
    if (running !== undefined) {
      log.warn({ reason }, 'second shutdown request: exiting now');
      process.exit(code === 0 ? 1 : code);
    }
    log.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'shutdown overran its grace period: exiting now');
      process.exit(1);
    }, graceMs);
    timer.unref();
    running = (async () => {
      for (const { name, closer } of closers.toReversed()) {
        try {
          await closer();
        } catch (error) {
          log.error({ err: error, closer: name }, 'closer failed during shutdown');
          code = code === 0 ? 1 : code;
        }
      }
      log.info('stopped');
      log.flush?.();
      process.exit(code);
    })();
    return running;
  };

  process.on('SIGTERM', () => void run('SIGTERM'));
  process.on('SIGINT', () => void run('SIGINT'));
  if (process.send !== undefined) process.on('disconnect', () => void run('supervisor went away'));
  return { add: (name, closer) => closers.push({ name, closer }), run };
}
