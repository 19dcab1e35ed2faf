import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { StoreErrors } from './errors.ts';
import { checksum, loadMigrations } from './migrations.ts';

function folder(t: TestContext, files: Record<string, string>): string {
  const dir = tmpDir(t);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const mismatch = { code: StoreErrors.MIGRATION_MISMATCH };

describe('loadMigrations', () => {
  it('reads NNN-name.sql files in order, from a path or a file URL, ignoring other files', (t) => {
    const dir = folder(t, {
      '002-orders.sql': '-- orders\nCREATE TABLE orders (id INTEGER);\n',
      '001-users.sql': '-- users\nCREATE TABLE users (id INTEGER);\n',
      'README.md': 'not a migration',
    });
    const expected = [
      { id: '001-users', sql: '-- users\nCREATE TABLE users (id INTEGER);\n' },
      { id: '002-orders', sql: '-- orders\nCREATE TABLE orders (id INTEGER);\n' },
    ];
    assert.deepEqual(loadMigrations(dir), expected);
    assert.deepEqual(loadMigrations(pathToFileURL(`${dir}/`)), expected);
  });

  it('rejects a file without a leading -- comment saying what it does', (t) => {
    assert.throws(() => loadMigrations(folder(t, { '001-users.sql': 'CREATE TABLE users (id INTEGER);' })), mismatch);
    assert.throws(
      () => loadMigrations(folder(t, { '001-users.sql': '--\nCREATE TABLE users (id INTEGER);' })),
      mismatch,
    );
  });

  it('rejects badly named SQL files and numbers used twice', (t) => {
    assert.throws(() => loadMigrations(folder(t, { 'users.sql': '-- users\n' })), mismatch);
    assert.throws(() => loadMigrations(folder(t, { '1-users.sql': '-- users\n' })), mismatch);
    assert.throws(() => loadMigrations(folder(t, { '001-a.sql': '-- a\n', '001-b.sql': '-- b\n' })), mismatch);
  });
});

describe('checksum', () => {
  it('is the sha256 of the text, blind to CRLF line endings only', () => {
    assert.equal(checksum('x'), '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881');
    assert.equal(checksum('-- a\r\nSELECT 1;\r\n'), checksum('-- a\nSELECT 1;\n'));
    assert.notEqual(checksum('-- a\nSELECT 1;'), checksum('-- a\nSELECT 2;'));
  });
});
