// Backend instances as real OS processes (`node -e <source>`), so tests can SIGKILL and restart them.
// The source reads NAME and PORT from its environment and prints "listening" once it serves.
import { type ChildProcess, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { waitFor } from './wait-for.ts';

/** Answers every path with `[]`, /health with ready, and says which instance served in x-served-by. */
export const PLAIN_BACKEND = `
const http = require('node:http');
http.createServer((req, res) => {
  res.setHeader('x-served-by', process.env.NAME);
  res.setHeader('content-type', 'application/json');
  res.end(req.url === '/health' ? '{"ready":true}' : '[]');
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\\n'));
`;

export async function startBackend(
  t: Pick<TestContext, 'after'>,
  name: string,
  port: number,
  source = PLAIN_BACKEND,
  env: Record<string, string> = {},
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', source], {
    env: { ...process.env, ...env, NAME: name, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
      return output.includes('listening');
    },
    { what: `${name} to listen` },
  );
  return child;
}

/** SIGKILLs a child and waits until it is gone. */
export async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
