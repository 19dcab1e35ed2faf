// `archlab experiment run <file>`: runs an experiment (every variant), shows progress, writes
// reports/<time>-<name>/ and exits 0 when every hypothesis line holds, 1 when one fails.
// `archlab report <dir>`: renders report.md and report.html again from report.json.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../../kit/errors.ts';
import { LabErrors } from '../../lab/errors.ts';
import { loadExperiment } from '../../lab/experiment.ts';
import { renderAgain } from '../../lab/report/index.ts';
import { runExperiment } from '../../lab/runner.ts';
import { usage } from '../args.ts';

export async function experiment(options: {
  action?: string | undefined;
  file?: string | undefined;
  out?: string | undefined;
}) {
  if (options.action !== 'run' || options.file === undefined)
    throw usage('usage: archlab experiment run <file> [--out DIR]');
  const loaded = await loadExperiment(options.file);
  const outcome = await runExperiment(loaded, {
    outDir: path.resolve(options.out ?? 'reports'),
    command: `archlab experiment run ${options.file}${options.out === undefined ? '' : ` --out ${options.out}`}`,
    progress: (line) => process.stdout.write(`${line}\n`),
  });
  for (const variant of outcome.report.variants) {
    for (const line of variant.verdict) {
      process.stdout.write(
        `${line.holds ? 'holds ' : 'FAILS '} [${variant.name}] ${line.line}: ${line.measured} (threshold ${line.threshold})\n`,
      );
    }
  }
  process.stdout.write(`report: ${path.join(outcome.dir, 'report.md')} and report.html\n`);
  return outcome.holds ? 0 : 1;
}

export async function report(options: { dir?: string | undefined }) {
  if (options.dir === undefined) throw usage('usage: archlab report <dir>');
  if (!existsSync(path.join(options.dir, 'report.json'))) {
    throw new AppError(404, LabErrors.REPORT_NOT_FOUND, `${options.dir} holds no report.json`);
  }
  await renderAgain(path.resolve(options.dir));
  process.stdout.write(`rendered ${path.join(options.dir, 'report.md')} and report.html\n`);
  return 0;
}
