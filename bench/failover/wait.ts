// Waiting in the fail-over bench: poll a condition with a deadline, never a fixed sleep for an event.
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * Polls `check` every `intervalMs` until it returns something other than undefined/false; throws
 * after `timeoutMs`. An error thrown by `check` ends the wait at once (the condition cannot come).
 */
export async function until<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 10_000, intervalMs = 10, what = 'a condition' } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** GET `url`; the status, the x-archlab-instance header and the body text, or the error's code. */
export async function probe(
  url: string,
  timeoutMs = 1_000,
): Promise<{ status: number; instance: string | null; body: string } | { error: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, instance: res.headers.get('x-archlab-instance'), body: await res.text() };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (error as Error).name };
  }
}
