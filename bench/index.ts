// `npm run bench -- <name>`: runs bench/<name>.ts. Benchmarks are bounded in time, target only
// 127.0.0.1, and print every figure next to the peer it is compared with in the same run.
import { readdirSync } from 'node:fs';

const available = readdirSync(new URL('.', import.meta.url))
  .filter((file) => file.endsWith('.ts') && !['index.ts', 'load.ts'].includes(file))
  .map((file) => file.slice(0, -3));
const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}>\n`);
  process.exitCode = 2;
} else {
  await import(`./${name}.ts`);
}
