// The lab's report: figures from a run (pure), the verdict against a hypothesis (pure), and the
// report directory (report.json, report.md, report.html).
export { RELATIVE_ERROR as LATENCY_RELATIVE_ERROR } from './histogram.ts';
export type { FaultOutcome, VariantMetrics, WindowPoint, Worst } from './metrics.ts';
export { computeMetrics, isSuccess, serviceOf } from './metrics.ts';
export type { Report, ReportVariant } from './render.ts';
export { REPORT_FILES, readReport, renderAgain, writeReport } from './render.ts';
export type { VerdictLine } from './verdict.ts';
export { judge } from './verdict.ts';
