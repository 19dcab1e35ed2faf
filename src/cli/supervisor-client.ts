// How CLI commands reach a running system: run.json and the admin token in its data directory give
// the supervisor's loopback admin port.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../kit/errors.ts';
import { SupervisorErrors } from '../supervisor/errors.ts';
import { readRunFile, TOKEN_FILE } from '../supervisor/run-file.ts';

export interface SupervisorClient {
  call<T>(method: 'GET' | 'POST', pathname: string, body?: unknown): Promise<T>;
}

export async function connectSupervisor(dataDir: string): Promise<SupervisorClient> {
  const run = await readRunFile(dataDir);
  const notUp = (why: string) =>
    new AppError(
      503,
      SupervisorErrors.NOT_UP,
      `no archlab is running on ${dataDir} (${why}); start one with archlab up`,
    );
  if (run === undefined || !run.supervisorAdmin) throw notUp('no run.json');
  const token = (await readFile(path.join(dataDir, TOKEN_FILE), 'utf8').catch(() => '')).trim();
  return {
    async call<T>(method: 'GET' | 'POST', pathname: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${run.supervisorAdmin}${pathname}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        throw notUp(`the supervisor at ${run.supervisorAdmin} does not answer: ${(error as Error).message}`);
      }
      const answer = (await res.json()) as T & { error?: { code: string; message: string } };
      if (!res.ok) {
        throw new AppError(res.status, answer.error?.code ?? 'internal', answer.error?.message ?? `HTTP ${res.status}`);
      }
      return answer;
    },
  };
}
