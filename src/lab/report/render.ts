// Writes a report directory: report.json (the whole Report, raw runs included: everything else is
// derived from it), report.md and report.html. renderAgain re-derives the two renderings from
// report.json alone, which is what `archlab report <dir>` does.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Hypothesis, RunRecord } from '../types.ts';
import { renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import type { VariantMetrics } from './metrics.ts';
import type { VerdictLine } from './verdict.ts';

export interface ReportVariant {
  name: string;
  run: RunRecord;
  metrics: VariantMetrics;
  verdict: VerdictLine[];
}

export interface Report {
  experiment: string;
  /** The experiment file it ran, when there was one. */
  file: string | null;
  /** ISO 8601. */
  createdAt: string;
  /** The command line that reproduces the report. */
  command: string;
  hypothesis: Hypothesis;
  variants: ReportVariant[];
}

export const REPORT_FILES = { json: 'report.json', markdown: 'report.md', html: 'report.html' } as const;

async function writeRenderings(dir: string, report: Report): Promise<void> {
  await writeFile(path.join(dir, REPORT_FILES.markdown), renderMarkdown(report));
  await writeFile(path.join(dir, REPORT_FILES.html), renderHtml(report));
}

/** Creates `dir` when needed and writes the three files. */
export async function writeReport(dir: string, report: Report): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, REPORT_FILES.json), `${JSON.stringify(report, null, 2)}\n`);
  await writeRenderings(dir, report);
}

export async function readReport(dir: string): Promise<Report> {
  return JSON.parse(await readFile(path.join(dir, REPORT_FILES.json), 'utf8')) as Report;
}

/** Re-renders report.md and report.html from report.json; returns the report read. */
export async function renderAgain(dir: string): Promise<Report> {
  const report = await readReport(dir);
  await writeRenderings(dir, report);
  return report;
}
