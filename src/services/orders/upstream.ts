// How the worker calls the command sides it needs (products-commands, orders-commands): straight to
// their instances as data/placement.json lists them, not through the gateway (these are /internal
// commands the gateway does not route, and the worker should not depend on one more process).
// The instance that answered last is tried first, then the others in declared order; an instance that
// refuses, times out (tryTimeoutMs) or answers 5xx passes the call to the next, and a second round
// re-reads the placement, all within deadlineMs. Retrying on another instance is safe only because
// every call made through here is idempotent (reservations and settlements are keyed by order id).

import { AppError, KitErrors } from '../../kit/errors.ts';
import type { Logger } from '../../kit/logger.ts';
import { type Placement, readPlacement } from '../../topology/placement.ts';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read by the caller field by field
  body: any;
  url: string;
}

export interface Upstream {
  post(service: string, path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
}

export interface UpstreamOptions {
  dataDir: string;
  /** Sent as `Authorization: Bearer <token>` (the /internal routes check it). */
  token: string | undefined;
  tryTimeoutMs: number;
  deadlineMs: number;
  log: Logger;
  readPlacement?: (dataDir: string) => Promise<Placement>;
}

/** The order to try a service's instances in: the one that answered last first, then declared order. */
export function callOrder(urls: readonly string[], preferred: string | undefined): string[] {
  if (preferred === undefined || !urls.includes(preferred)) return [...urls];
  return [preferred, ...urls.filter((url) => url !== preferred)];
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const { dataDir, token, tryTimeoutMs, deadlineMs, log } = options;
  const read = options.readPlacement ?? readPlacement;
  const preferred = new Map<string, string>();
  let placement: Placement | undefined;

  async function instancesOf(service: string, reload: boolean): Promise<string[]> {
    if (placement === undefined || reload) placement = await read(dataDir);
    return placement.services[service] ?? [];
  }

  return {
    async post(service, path, body, headers = {}) {
      const deadline = Date.now() + deadlineMs;
      let lastError: unknown;
      for (const reload of [false, true]) {
        let urls: string[];
        try {
          urls = callOrder(await instancesOf(service, reload), preferred.get(service));
        } catch (error) {
          lastError = error;
          continue;
        }
        for (const url of urls) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          try {
            const res = await fetch(`${url}${path}`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                ...(token ? { authorization: `Bearer ${token}` } : {}),
                ...headers,
              },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(Math.min(tryTimeoutMs, left)),
            });
            const text = await res.text();
            if (res.status >= 500) {
              lastError = new Error(`${url}${path} answered ${res.status}: ${text.slice(0, 200)}`);
              continue;
            }
            preferred.set(service, url);
            return { status: res.status, body: text === '' ? undefined : JSON.parse(text), url };
          } catch (error) {
            lastError = error;
            log.debug({ err: error, url, path }, 'instance did not answer; trying the next');
          }
        }
      }
      throw new AppError(503, KitErrors.UNAVAILABLE, `no ${service} instance answered POST ${path}`, {
        cause: lastError,
        details: { service, reason: lastError instanceof Error ? lastError.message : String(lastError) },
      });
    },
  };
}
