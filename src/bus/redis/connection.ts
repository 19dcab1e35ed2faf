// What the two halves of the Redis bus (streams.ts, queues.ts) share: the bus URL, the connections,
// how driver errors become BusErrors, key names and Lua script calls.
import { type ChainableCommander, Redis, type RedisOptions } from 'ioredis';
import { AppError } from '../../kit/errors.ts';
import { BusErrors } from '../errors.ts';

const DEFAULT_PREFIX = 'archlab:';
// Short reconnect steps so a restarted server is found again within a second or two.
const MAX_RECONNECT_DELAY_MS = 1000;
// A call already sent when the connection broke is sent again once it is back, or fails with
// BusErrors.UNAVAILABLE after this many reconnect attempts (about 0.35 s): never a hang.
const MAX_RETRIES_PER_REQUEST = 3;

export interface RedisLocation {
  options: RedisOptions;
  /** Every key of this bus starts with it. */
  prefix: string;
  /** The URL with its password masked, for messages. */
  shown: string;
}

/** Handed by bus.ts to each half, so both share one command connection and one open/closed state. */
export interface RedisContext {
  /** The shared command connection. Blocking reads never run on it. */
  readonly redis: Redis;
  readonly prefix: string;
  /** The longest a blocked read waits before it looks again. */
  readonly pollIntervalMs: number;
  /** A new connection of its own for blocking reads; the caller disconnects it. */
  dedicated(): Redis;
  /** Throws BusErrors.CLOSED once the bus has begun closing. */
  assertOpen(): void;
  /** True until close() has ended the command connection. */
  isOpen(): boolean;
  /** Awaits a driver call, translating what it throws. */
  guard<T>(call: Promise<T>): Promise<T>;
  /** What guard() does to an error, for errors a pipeline reports per command. */
  translate(error: unknown): unknown;
  /** Passes a background (handler or broker) error to the bus's onError; never throws. */
  report(error: unknown): void;
}

/** `redis[s]://[user:password@]host[:port][/db][?prefix=<key prefix>]`; BAD_URL otherwise. */
export function parseRedisUrl(url: string): RedisLocation {
  const shown = maskPassword(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badUrl(shown, 'not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw badUrl(shown, 'expected redis://');
  if (!parsed.hostname) throw badUrl(shown, 'no host');
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw badUrl(shown, `database '${dbText}' is not a number`);
  for (const key of parsed.searchParams.keys()) {
    if (key !== 'prefix') throw badUrl(shown, `unknown parameter '${key}' (only 'prefix')`);
  }
  const options: RedisOptions = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db,
    lazyConnect: true,
    // Off: ioredis runs one auto-pipeline at a time, so every call would wait for the replies to the
    // previous batch, chaining a producer's enqueues to a consumer's acks. The bus batches where it
    // pays instead: enqueues of one tick share a script call, a consumer's ack and read one write.
    enableAutoPipelining: false,
    // No offline queue: a call made while the connection is down fails at once with UNAVAILABLE, so a
    // request that needs the broker answers 503 at once and a retry loop backs off. Queued, the call
    // would wait up to MAX_RETRIES_PER_REQUEST reconnect attempts, seconds once they are
    // MAX_RECONNECT_DELAY_MS apart, and a caller told it failed might still see it run later.
    enableOfflineQueue: false,
    maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
    retryStrategy: (times) => Math.min(50 * 2 ** (times - 1), MAX_RECONNECT_DELAY_MS),
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return { options, prefix: parsed.searchParams.get('prefix') ?? DEFAULT_PREFIX, shown };
}

function maskPassword(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

function badUrl(shown: string, reason: string): AppError {
  return new AppError(400, BusErrors.BAD_URL, `unsupported bus URL '${shown}': ${reason}`, { details: { url: shown } });
}

// Server replies that mean "not now" rather than "wrong": a server loading its data after a restart,
// a busy script, a replica, a failed disk write.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY|CLUSTERDOWN|NOREPLICAS|MISCONF)\b/;

/**
 * Connection failures (refused, closed, retries exhausted) and transient server replies become
 * BusErrors.UNAVAILABLE, retryable. Other server replies are bugs here and pass through.
 */
export function translate(error: unknown, shown: string): unknown {
  if (!(error instanceof Error) || error instanceof AppError) return error;
  if (error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) return error;
  return new AppError(503, BusErrors.UNAVAILABLE, `redis bus at ${shown}: ${outageReason(error)}`, {
    cause: error,
    retryable: true,
  });
}

/** The driver's words for the two ways a call meets an outage, said plainly (the cause keeps them). */
function outageReason(error: Error): string {
  if (error.name === 'MaxRetriesPerRequestError') return 'the connection broke and was not back in time';
  if (error.message.startsWith("Stream isn't writeable")) return 'not connected (the server is down or restarting)';
  return error.message;
}

export function closedError(): AppError {
  return new AppError(503, BusErrors.CLOSED, 'the bus is closed', { retryable: false });
}

/** Connects the command connection; UNAVAILABLE when the server cannot be reached or refuses us. */
export async function connect(location: RedisLocation): Promise<Redis> {
  const redis = new Redis(location.options);
  // Connection errors also fail the calls that were waiting; the event would only repeat them.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    const translated = translate(error, location.shown);
    if (translated instanceof AppError) throw translated;
    // A refusal (wrong password, unknown database): trying again will not help.
    throw new AppError(503, BusErrors.UNAVAILABLE, `redis bus at ${location.shown}: ${(error as Error).message}`, {
      cause: error,
      retryable: false,
    });
  }
  return redis;
}

/**
 * A connection for blocking reads: they hold it until they return, so it cannot be shared. It connects
 * on its first read, which waits in its offline queue meanwhile; the loops that use it retry a failed
 * read, and one waiting when the server comes back is sent at once.
 */
export function dedicatedConnection(redis: Redis): Redis {
  const connection = redis.duplicate({ enableOfflineQueue: true });
  connection.on('error', () => {});
  return connection;
}

/**
 * A promise to race against a blocking read, settled by halt() when its loop stops: ioredis never
 * settles a read that waits for a reconnect when disconnect() comes meanwhile (the broker is down),
 * so a loop awaiting that read alone could hold close() forever.
 */
export function halted(): { halted: Promise<null>; halt: () => void } {
  let halt!: () => void;
  const promise = new Promise<null>((resolve) => {
    halt = () => resolve(null);
  });
  return { halted: promise, halt };
}

/**
 * Escapes ':' (and '%', the escape character) in a stream or queue name, so the name never contains
 * the separator and `<prefix>queue:<name>:<suffix>` keys of different names cannot collide.
 */
export function keyPart(name: string): string {
  return name.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
}

/** ms since the epoch from the server clock, so every host agrees on due times and timestamps. */
export const LUA_NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

type ScriptCall = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => unknown;

/**
 * Registers Lua scripts on a connection. ioredis sends each with EVAL the first time on a socket
 * and EVALSHA after, so a restarted server (empty script cache) needs nothing from us. The returned
 * function runs one; given a pipeline of that connection, it queues the call there instead.
 */
export function defineScripts<Name extends string>(redis: Redis, scripts: Record<Name, string>) {
  for (const [name, lua] of Object.entries<string>(scripts)) redis.defineCommand(name, { lua });
  function run(name: Name, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  function run(name: Name, keys: readonly string[], args: readonly (string | number)[], on: ChainableCommander): void;
  function run(name: Name, keys: readonly string[], args: readonly (string | number)[], on?: ChainableCommander) {
    const target = on ?? redis;
    const call = (target as unknown as Record<string, ScriptCall>)[name]!;
    const result = call.call(target, keys.length, ...keys, ...args);
    return on === undefined ? result : undefined;
  }
  return run;
}
