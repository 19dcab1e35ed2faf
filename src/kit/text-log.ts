// Plain-text log files in the words the seed systems printed ("Reiniciando users-commands-1",
// "Server: http://… is down"), beside the JSON logs, so log-reading habits from the seeds still work.
// Lines are appended in order, each prefixed with its ISO time; a failed write is reported on the
// JSON log and the line dropped (this file is for people, the JSON log is the record).
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from './logger.ts';

export type TextLog = (line: string) => void;

export function createTextLog(file: string, log: Logger): TextLog {
  let tail: Promise<unknown> = mkdir(path.dirname(file), { recursive: true });
  return (line) => {
    const text = `${new Date().toISOString()} ${line}\n`;
    tail = tail
      .then(() => appendFile(file, text))
      .catch((error: unknown) => log.warn({ err: error, file }, 'text log write failed'));
  };
}
