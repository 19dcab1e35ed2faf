// Finds the Debian-packaged tools the gateway bench drives (wrk, nginx) and, when one is missing and
// this process runs as root, installs it with apt-get, as a person following the README would.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { run } from './processes.ts';

// nginx lives in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

export type Found = { path: string } | { missing: string };

/** The command's path, installing Debian package `pkg` first when needed and possible. */
export async function ensureCommand(name: string, pkg: string): Promise<Found> {
  const found = findCommand(name);
  if (found !== undefined) return { path: found };
  const how = `install it with: apt-get update && apt-get install -y ${pkg}`;
  if (process.getuid?.() !== 0) return { missing: `${name} is not installed and this is not root; ${how}` };
  console.log(`${name} not found: running apt-get update && apt-get install -y ${pkg}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', pkg]]) {
    const result = await run('apt-get', args, env).catch((error: unknown) => ({
      code: -1,
      stdout: '',
      stderr: String(error),
    }));
    if (result.code !== 0) {
      const tail = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-5).join('\n');
      return { missing: `apt-get ${args.join(' ')} failed (${result.code}):\n${tail}\n${how}` };
    }
  }
  const installed = findCommand(name);
  return installed === undefined ? { missing: `${pkg} installed but no ${name} found; ${how}` } : { path: installed };
}

/** The first line a tool prints about its version (nginx -v and wrk -v write it to stderr/stdout). */
export async function versionOf(command: string, args: readonly string[]): Promise<string> {
  const result = await run(command, args).catch(() => undefined);
  return `${result?.stdout ?? ''}${result?.stderr ?? ''}`.trim().split('\n')[0] ?? '';
}
