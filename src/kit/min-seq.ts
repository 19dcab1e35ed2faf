// Read-your-writes on request: a query with `?minSeq=N` waits (bounded) until the read model has
// applied stream seq N, then answers from it; past the bound it answers 504 rather than stale data.
import type { FastifyRequest } from 'fastify';
import { AppError } from './errors.ts';
import type { Projector } from './projector.ts';

export const MinSeqErrors = {
  INVALID_MIN_SEQ: 'invalid_min_seq',
  READ_MODEL_BEHIND: 'read_model_behind',
} as const;

/** A preHandler for query routes; every reply also says the position it was served at. */
export function waitForMinSeq(projector: Projector, timeoutMs: number) {
  return async function minSeqPreHandler(request: FastifyRequest) {
    const raw = (request.query as Record<string, unknown> | undefined)?.minSeq;
    if (raw !== undefined) {
      const minSeq = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!Number.isSafeInteger(minSeq)) {
        throw new AppError(400, MinSeqErrors.INVALID_MIN_SEQ, 'minSeq must be a non-negative integer');
      }
      if (!(await projector.waitFor(minSeq, timeoutMs))) {
        throw new AppError(
          504,
          MinSeqErrors.READ_MODEL_BEHIND,
          `read model at seq ${projector.position()} did not reach minSeq ${minSeq} within ${timeoutMs} ms`,
          { retryable: true, details: { position: projector.position(), minSeq } },
        );
      }
    }
  };
}
