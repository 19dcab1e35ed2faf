// calculator-subtract's one dependency, the service-to-service call of seed 003: a − b is asked of
// calculator-add as Add(a, −b) over gRPC, always with a deadline (default 1 s, never later than the
// caller's own). The seed's client had none, so a hung add service hung its caller; here a down add
// fails the subtraction at once (UNAVAILABLE) and a hung one within the deadline (DEADLINE_EXCEEDED),
// both answered to the gateway, which then retries elsewhere or stores the operation for later.
//
// calculator-add is found in placement.json (its first non-spare instance; ports are kept across
// restarts, so the address is read once), or at CALCULATOR_ADD_URL when set (a deployment without
// a supervisor). One channel, kept: it reconnects by itself after add restarts.
import { type Client, status } from '@grpc/grpc-js';
import { callUnary, createClient, loadService } from '../../kit/grpc.ts';
import type { Logger } from '../../kit/logger.ts';
import { traceHeaders } from '../../kit/trace.ts';
import { readPlacement } from '../../topology/placement.ts';
import { CalculatorErrors } from './errors.ts';
import { CalculatorError, type Operands } from './operations.ts';
import { CALCULATOR_PROTO, CALCULATOR_SERVICE, type CallContext } from './server.ts';

export const ADD_SERVICE = 'calculator-add';

export interface AddClientOptions {
  dataDir: string;
  /** calculator-add's URL; default: from placement.json. */
  url: string | undefined;
  timeoutMs: number;
  log: Logger;
}

export interface AddClient {
  add(operands: Operands, call: CallContext): Promise<number>;
  close(): void;
}

export function createAddClient(options: AddClientOptions): AddClient {
  const Calculator = loadService(CALCULATOR_PROTO, CALCULATOR_SERVICE);
  let target: { url: string; client: Client } | undefined;

  async function connect(): Promise<{ url: string; client: Client }> {
    if (target !== undefined) return target;
    const url = options.url ?? (await placedUrl(options.dataDir));
    if (url === undefined) {
      throw new CalculatorError(
        status.UNAVAILABLE,
        CalculatorErrors.ADD_UNAVAILABLE,
        `no ${ADD_SERVICE} instance is placed (placement.json) and CALCULATOR_ADD_URL is not set`,
      );
    }
    // A concurrent first call may have connected meanwhile: keep one channel.
    if (target === undefined) {
      target = { url, client: createClient(Calculator, url) };
      options.log.info({ url, timeoutMs: options.timeoutMs }, `${ADD_SERVICE} client ready`);
    }
    return target;
  }

  return {
    async add(operands, call) {
      const { url, client } = await connect();
      const deadline = Math.min(Date.now() + options.timeoutMs, call.deadline);
      const waitMs = Math.max(0, deadline - Date.now());
      const outcome = await callUnary(client, 'Add', { ...operands }, { deadline, headers: traceHeaders(call.trace) });
      if (outcome.ok) return outcome.response.result as number;
      if (outcome.failure === 'timeout') {
        throw new CalculatorError(
          status.DEADLINE_EXCEEDED,
          CalculatorErrors.ADD_TIMEOUT,
          `${ADD_SERVICE} (${url}) did not answer within ${waitMs} ms`,
        );
      }
      // Bad operands stay the caller's fault, whichever process noticed.
      if (outcome.failure === 'status' && outcome.code === status.INVALID_ARGUMENT) {
        throw new CalculatorError(
          status.INVALID_ARGUMENT,
          outcome.errorCode ?? CalculatorErrors.INVALID_OPERAND,
          outcome.details ?? '',
        );
      }
      throw new CalculatorError(
        status.UNAVAILABLE,
        CalculatorErrors.ADD_UNAVAILABLE,
        `${ADD_SERVICE} (${url}) failed: ${outcome.failure}${outcome.details ? ` (${outcome.details})` : ''}`,
      );
    },
    close() {
      target?.client.close();
    },
  };
}

async function placedUrl(dataDir: string): Promise<string | undefined> {
  try {
    return (await readPlacement(dataDir)).services[ADD_SERVICE]?.[0];
  } catch {
    return undefined;
  }
}
