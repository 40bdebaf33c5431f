/** Reads a V8 `.cpuprofile` (node --cpu-prof) and says where the time went. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled wall time of the profile. */
  totalMs: number;
  /** Time not idle (program, GC and JavaScript). */
  busyMs: number;
  /** Self time by function, largest first. */
  topFunctions: Array<{ name: string; where: string; ms: number; share: number }>;
  /** Self time by package (node_modules/<pkg>, node: internals, ccflow source, gc), largest first. */
  byPackage: Array<{ name: string; ms: number; share: number }>;
  /**
   * Every busy sample charged to the innermost ccflow function (src/ or bench/) on its stack,
   * so time in native calls, node internals and libraries shows up under the ccflow code that
   * asked for it; samples with no ccflow frame go to their package.
   */
  byCcflowCaller: Array<{ name: string; where: string; ms: number; share: number }>;
}

function packageOf(url: string): string {
  if (url === '') return '(native/vm)';
  if (url.startsWith('node:')) return 'node internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m?.[1]) return m[1];
  if (url.includes('/bench/')) return 'ccflow bench';
  return 'ccflow src';
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const p = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const rel = p.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, p) : p;
  // The benchmark's child processes run a compiled copy of src/ and bench/: name the source
  // file (line numbers there are the compiled file's, so they are left out).
  const built = /^bench\/tmp\/build\/(.*)\.js$/.exec(rel);
  if (built) return `${built[1]}.ts`;
  return `${rel.replace(/^.*node_modules\//, '')}:${line + 1}`;
}

/**
 * @param exclude samples with a frame of one of these function names on their stack are left
 * out (the benchmark's own profiler handling, say).
 */
export async function summarizeCpuProfile(file: string, top = 12, exclude: readonly string[] = []): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isCcflow = (url: string) =>
    url !== '' && !url.includes('node_modules') && !url.startsWith('node:') && (url.includes('/src/') || url.includes('/bench/'));
  const callers = new Map<string, { name: string; where: string; us: number }>();
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const fns = new Map<string, { name: string; where: string; us: number }>();
  const pkgs = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const excluded = (id: number): boolean => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      if (exclude.includes(byId.get(cur)?.callFrame.functionName ?? '')) return true;
    }
    return false;
  };
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || (exclude.length > 0 && excluded(id))) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const special = functionName.startsWith('(') ? functionName : undefined;
    const name = special ?? (functionName || '(anonymous)');
    const where = special ? '' : shortWhere(url, lineNumber);
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const pkg = special ?? packageOf(url);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
    let cur: number | undefined = id;
    let frame: ProfileNode | undefined;
    while (cur !== undefined) {
      const n = byId.get(cur);
      if (n && isCcflow(n.callFrame.url)) {
        frame = n;
        break;
      }
      cur = parent.get(cur);
    }
    const cname = frame ? frame.callFrame.functionName || '(anonymous)' : `(no ccflow frame: ${pkg})`;
    const cwhere = frame ? shortWhere(frame.callFrame.url, frame.callFrame.lineNumber) : '';
    const ckey = `${cname}@${cwhere}`;
    const cf = callers.get(ckey) ?? { name: cname, where: cwhere, us: 0 };
    cf.us += us;
    callers.set(ckey, cf);
  }
  const busy = total - idle;
  const share = (us: number) => (busy > 0 ? us / busy : 0);
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    topFunctions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: share(f.us) })),
    byCcflowCaller: [...callers.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: share(f.us) })),
    byPackage: [...pkgs.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: share(us) })),
  };
}
