// A Node child process that a test starts in lockstep: it prints "ready" once set up, waits for
// "go" on stdin (so several children can start their work together), and is killed after the test.
import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { waitFor } from './wait-for.ts';

export function lockstepChild(t: TestContext, args: string[], options: { env?: NodeJS.ProcessEnv; what: string }) {
  const child = spawn(process.execPath, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  return {
    ready: () => waitFor(() => output.includes('ready'), { what: options.what }),
    go: () => child.stdin.end('go\n'),
    exited,
    output: () => output,
  };
}
