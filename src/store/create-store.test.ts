import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tmpDir } from '../../test/helpers/tmp.ts';
import { createStore } from './create-store.ts';
import { StoreErrors } from './errors.ts';

const badUrl = { code: StoreErrors.BAD_URL };

describe('createStore', () => {
  it('opens sqlite:<dir> relative to the working directory, creating the directory', async (t) => {
    const dir = tmpDir(t);
    const relative = path.relative(process.cwd(), path.join(dir, 'a', 'b'));
    const store = await createStore(`sqlite:${relative}`, { name: 'users' });
    t.after(() => store.close());
    assert.equal(store.dialect, 'sqlite');
    assert.equal(store.name, 'users');
    assert.ok(existsSync(path.join(dir, 'a', 'b', 'users.db')));
  });

  it('opens sqlite:///<absolute dir>', async (t) => {
    const dir = tmpDir(t);
    const store = await createStore(`sqlite://${dir}`, { name: 'users' });
    t.after(() => store.close());
    assert.ok(existsSync(path.join(dir, 'users.db')));
  });

  it('refuses unsupported URLs with BAD_URL, never echoing a password', async () => {
    for (const url of ['mysql://h/db', 'sqlite:', 'sqlite://relative', 'redis://x', 'postgres//nope']) {
      await assert.rejects(createStore(url, { name: 'users' }), badUrl, url);
    }
    await assert.rejects(createStore('mysql://me:secret@h/db', { name: 'users' }), (error: Error) => {
      assert.doesNotMatch(error.message, /secret/);
      return true;
    });
  });

  it('refuses names that cannot be both a file and a schema', async () => {
    for (const name of ['', 'Users', '../x', 'a b', '-x']) {
      await assert.rejects(createStore('sqlite::memory:', { name }), badUrl, name);
    }
  });
});
