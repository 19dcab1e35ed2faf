import { Writable } from 'node:stream';
import { createLogger } from '../../src/kit/logger.ts';

/** A logger that writes nowhere, for components under test. */
export const silentLogger = () =>
  createLogger({ destination: new Writable({ write: (_chunk, _enc, done) => done() }) });
