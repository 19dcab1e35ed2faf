// Every error code is unique across components and documented in docs/errors.md, so clients can rely
// on `code` alone. The list of code tables is found by scanning src/, so a new table cannot hide.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;
const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

async function codeTables() {
  const tables: { file: string; name: string; codes: string[] }[] = [];
  for (const file of sourceFiles(SRC)) {
    const names = [...readFileSync(file, 'utf8').matchAll(/export const (\w+Errors) = \{/g)].map((m) => m[1]!);
    if (names.length === 0) continue;
    const module = (await import(file)) as Record<string, Record<string, string>>;
    for (const name of names)
      tables.push({ file: path.relative(SRC, file), name, codes: Object.values(module[name]!) });
  }
  return tables;
}

test('error codes are unique across every component', async () => {
  const tables = await codeTables();
  assert.ok(tables.length >= 5, `found only ${tables.length} code tables`);
  const seen = new Map<string, string>();
  for (const { file, name, codes } of tables) {
    for (const code of codes) {
      assert.ok(!seen.has(code), `${code} is in ${seen.get(code)} and ${file} ${name}`);
      seen.set(code, `${file} ${name}`);
    }
  }
});

test('every error code is documented in docs/errors.md', async () => {
  const missing = (await codeTables()).flatMap(({ codes }) => codes.filter((code) => !DOC.includes(`\`${code}\``)));
  assert.deepEqual(missing, []);
});
