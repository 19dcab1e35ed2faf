import pino, { type Logger } from 'pino';

export type { Logger };

// Anything that could carry a password or a token is censored wherever it appears in a log object.
const REDACT = [
  'password',
  'clave',
  '*.password',
  '*.clave',
  '*.*.password',
  'token',
  '*.token',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-archlab-token"]',
  '*.headers["x-archlab-token"]',
];

export interface LoggerOptions {
  /** Bound to every line: instance, service, role, component… */
  bindings?: Record<string, string>;
  level?: string;
  destination?: pino.DestinationStream;
}

/** JSON lines on stdout (the supervisor routes each process's stdout to its log file). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.ARCHLAB_LOG_LEVEL ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const QUIET_KEYS = new Set(['level', 'time', 'pid', 'instance', 'service', 'role', 'msg', 'hostname']);

/** One readable line per entry, for a person at a terminal (`archlab up` on a TTY); files stay JSON. */
export function prettyDestination(out: NodeJS.WritableStream = process.stdout): pino.DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
      const extras = Object.entries(entry)
        .filter(([key]) => !QUIET_KEYS.has(key))
        .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
      const err = entry.err as { message?: string } | undefined;
      const detail =
        err?.message === undefined ? extras.filter((e) => !e.startsWith('err=')) : [`error: ${err.message}`];
      out.write(
        `${time} ${(LEVELS[entry.level as number] ?? 'info').padEnd(5)} ${String(entry.msg ?? '')}${detail.length > 0 ? `  (${detail.join(' ')})` : ''}\n`,
      );
    },
  };
}
