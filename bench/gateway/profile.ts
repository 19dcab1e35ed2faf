// Reads a V8 .cpuprofile (what node --cpu-prof writes) and sums self time per function and per area
// (node core, each package, each archlab component, GC), so a run can say what bounds the gateway.
// Format: `nodes` is the call tree (each with a callFrame); `samples[i]` is the node on top of the
// stack at sample i, and `timeDeltas[i]` the microseconds since sample i-1, so sample i lasts until
// the next one (timeDeltas[i + 1]), as Chrome's profiler counts it.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  area: string;
  ms: number;
}

export interface ProfileSummary {
  wallMs: number;
  idleMs: number;
  /** Everything but (idle): JS, native code, GC. */
  busyMs: number;
  /** By self time. */
  functions: SelfTime[];
  /** archlab's own functions by total time: their self time and that of everything they called. */
  archlab: SelfTime[];
  /** `ms`: self time of the area's frames; `totalMs`: time with a frame of the area anywhere on the stack. */
  areas: { area: string; ms: number; totalMs: number }[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IGNORED = new Set(['(root)', '(idle)']);

/** Where a frame's code comes from, for grouping: a package, a part of node or archlab, or V8 itself. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  // Bindings (writev, writeLatin1String…) carry their syscalls' kernel time: on loopback that
  // includes the receiving side's TCP processing.
  if (url === '') return functionName.startsWith('(') ? functionName : 'native bindings and syscalls';
  if (url.startsWith('node:')) {
    const module = url.slice(5).replace(/^internal\//, '');
    return `node:${module.split('/')[0]!.replace(/^_/, '')}`;
  }
  const inPackage = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inPackage !== null) return inPackage[1]!;
  const local = /\/(src|bench)\/([^/]+)/.exec(url);
  if (local !== null) return `archlab ${local[1]}/${local[2]!.replace(/\.ts$/, '')}`;
  return 'other';
}

function where(frame: CallFrame): string {
  if (frame.url === '') return '';
  const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url).replace(ROOT, '') : frame.url;
  return `${file}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  if (samples !== undefined && timeDeltas !== undefined && samples.length > 0) {
    for (let i = 0; i < samples.length; i++) {
      const us = timeDeltas[i + 1] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
    }
  } else {
    // Older profiles: hit counts only, each worth the mean sampling interval.
    const hits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
    const interval = hits === 0 ? 0 : (profile.endTime - profile.startTime) / hits;
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * interval);
  }

  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (frame: CallFrame) => `${frame.functionName}|${frame.url}|${frame.lineNumber}|${frame.columnNumber}`;

  let idleUs = 0;
  const functions = new Map<string, SelfTime>();
  const areas = new Map<string, { self: number; total: number }>();
  const archlab = new Map<string, SelfTime>();
  const entry = (map: Map<string, SelfTime>, frame: CallFrame) => {
    const key = keyOf(frame);
    let found = map.get(key);
    if (found === undefined) {
      found = { name: frame.functionName || '(anonymous)', where: where(frame), area: areaOf(frame), ms: 0 };
      map.set(key, found);
    }
    return found;
  };
  const areaOfTotals = (area: string) => {
    let totals = areas.get(area);
    if (totals === undefined) {
      totals = { self: 0, total: 0 };
      areas.set(area, totals);
    }
    return totals;
  };
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') idleUs += us;
    if (IGNORED.has(frame.functionName) || us === 0) continue;
    areaOfTotals(areaOf(frame)).self += us / 1000;
    entry(functions, frame).ms += us / 1000;
    // Walk to the root once per distinct node (not per sample), counting each function and area once
    // per stack so recursion does not count twice.
    const seenFunctions = new Set<string>();
    const seenAreas = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const up = byId.get(at)!.callFrame;
      if (up.functionName === '(root)') break;
      const area = areaOf(up);
      if (!seenAreas.has(area)) {
        seenAreas.add(area);
        areaOfTotals(area).total += us / 1000;
      }
      if (area.startsWith('archlab src') && !seenFunctions.has(keyOf(up))) {
        seenFunctions.add(keyOf(up));
        entry(archlab, up).ms += us / 1000;
      }
    }
  }
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  const byMs = (a: { ms: number }, b: { ms: number }) => b.ms - a.ms;
  return {
    wallMs,
    idleMs: idleUs / 1000,
    busyMs: [...areas.values()].reduce((sum, totals) => sum + totals.self, 0),
    functions: [...functions.values()].sort(byMs),
    archlab: [...archlab.values()].sort(byMs),
    areas: [...areas].map(([area, totals]) => ({ area, ms: totals.self, totalMs: totals.total })).sort(byMs),
  };
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

export function printProfile(summary: ProfileSummary, file: string, top = 15) {
  const { wallMs, busyMs, idleMs } = summary;
  const pct = (ms: number) => `${((ms / busyMs) * 100).toFixed(1)}%`.padStart(6);
  console.log(`\ncpu profile of the archlab gateway child: ${file}`);
  console.log(
    `  ${(wallMs / 1000).toFixed(1)} s profiled, busy ${(busyMs / 1000).toFixed(1)} s (${((busyMs / wallMs) * 100).toFixed(0)}%),` +
      ` idle ${(idleMs / 1000).toFixed(1)} s; shares below are of busy time (idle includes the peers' turns)`,
  );
  console.log(
    "  native bindings include their syscalls' kernel time; V8's signal-driven sampler tends to land on a syscall's" +
      " return, so it can overstate them: the table's user+sys split (from /proc) is the unbiased kernel share",
  );
  console.log(`\n  by area: self time, then total (time with the area's code anywhere on the stack):`);
  for (const { area, ms, totalMs } of summary.areas.slice(0, 12)) {
    console.log(`    ${pct(ms)}  ${ms.toFixed(0).padStart(7)} ms   total ${pct(totalMs)}  ${area}`);
  }
  console.log(`\n  top ${top} functions by self time:`);
  for (const fn of summary.functions.slice(0, top)) {
    console.log(`    ${pct(fn.ms)}  ${fn.ms.toFixed(0).padStart(7)} ms  ${fn.name.padEnd(34)} ${fn.where || fn.area}`);
  }
  console.log(`\n  archlab's functions by total time (self + callees):`);
  for (const fn of summary.archlab.slice(0, 10)) {
    console.log(`    ${pct(fn.ms)}  ${fn.ms.toFixed(0).padStart(7)} ms  ${fn.name.padEnd(34)} ${fn.where}`);
  }
}
