// The archlab command line: help, usage errors and topology errors map to the documented exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CLI } from '../helpers/system.ts';
import { tmpDir } from '../helpers/tmp.ts';

const archlab = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

test('--help prints the commands and exits 0', () => {
  const result = archlab('--help');
  assert.equal(result.status, 0);
  assert.match(result.stdout, /archlab up/);
  assert.match(result.stdout, /--data DIR/);
});

test('an unknown command or flag exits 2', () => {
  assert.equal(archlab('frobnicate').status, 2);
  const flag = archlab('up', '--nope');
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /nope/);
});

test('a bad topology exits 2 naming file, line and field, and starts nothing', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'services:\n  users-commands:\n    instances: 0\n');
  const result = archlab('up', '--topology', file, '--data', path.join(dir, 'data'));
  assert.equal(result.status, 2);
  assert.match(
    result.stderr,
    new RegExp(`${file.replaceAll('/', '\\/')}:3:\\d+ services\\.users-commands\\.instances`),
  );
});

test('archlab run with an unknown program exits 2', () => {
  const result = archlab('run', 'no-such-program');
  assert.equal(result.status, 2);
  assert.match(result.stderr, /users-commands/);
});

test('archlab fault with a bad action or no instance exits 2; status and fault without a system exit 1', (t) => {
  const data = tmpDir(t);
  for (const args of [
    ['fault'],
    ['fault', 'explode', 'users-queries-1'],
    ['fault', 'kill'],
    ['fault', 'hang', 'x', '--hold'],
  ]) {
    const result = archlab(...args, '--data', data);
    assert.equal(result.status, 2, args.join(' '));
    assert.match(result.stderr, /usage: archlab fault|--hold/);
  }
  for (const args of [['status'], ['fault', 'kill', 'users-queries-1']]) {
    const result = archlab(...args, '--data', data);
    assert.equal(result.status, 1, args.join(' '));
    assert.match(result.stderr, /no archlab is running on/);
  }
});
