/**
 * Parses one stream-json transcript the way runAgent follows claude's output: 1 MiB reads with
 * Sandbox.readFileFrom from a local sandbox, StreamJsonParser.push, RunState.apply. Prints one
 * JSON line with timings and memory. Run by bench/parse.ts in a fresh process per input, so
 * memory numbers belong to one input only, compiled (see bench/lib/worker-handle.ts) so no
 * TypeScript loader runs alongside:
 *   node --expose-gc bench/tmp/build/bench/parse-child.js <transcript> <scratch dir> <parse|json-only> [cpuprofile out]
 * With a profile path, the parse loop (and only it) runs under the V8 CPU profiler.
 */
import { link, mkdir, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RunState } from '../src/claude/run-state.js';
import { StreamJsonParser } from '../src/claude/stream.js';
import { localSandboxMounts } from '../src/worker/index.js';
import { LocalSandboxProvider } from '../src/sandbox/local/index.js';
import { SANDBOX_CCFLOW_DIR } from '../src/sandbox/layout.js';
import { REPO_ROOT } from './lib/paths.js';

/** runner.ts reads the output file in chunks of this size (READ_CHUNK_BYTES). */
const READ_CHUNK_BYTES = 1 << 20;

export interface ParseChildResult {
  bytes: number;
  events: number;
  garbageLines: number;
  /** Read + parse + fold, as in the runner. */
  totalMs: number;
  /** parser.push + state.apply only. */
  parseMs: number;
  /** Sandbox.readFileFrom only. */
  readMs: number;
  /** Bytes, sampled after every chunk. */
  baselineRss: number;
  peakRss: number;
  baselineHeapUsed: number;
  peakHeapUsed: number;
  peakExternal: number;
  /** heapUsed after a full GC once done, minus the baseline: what the parse kept. */
  retainedHeap: number;
}

async function main(): Promise<void> {
  const [file, scratch, mode, profileOut] = process.argv.slice(2);
  if (!file || !scratch) throw new Error('usage: parse-child.ts <transcript> <scratch dir> <parse|json-only> [cpuprofile out]');
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  // isolation "none": nothing runs in this sandbox; only its file reads are used.
  // Compiled, this file lives outside the package: BENCH_REPO_ROOT says where the package is.
  const root = process.env.BENCH_REPO_ROOT ?? REPO_ROOT;
  const provider = new LocalSandboxProvider({ rootDir: scratch, mounts: localSandboxMounts(root), isolation: 'none' });
  const sandbox = await provider.create({ metadata: { owner: 'ccflow-bench' } });
  const inside = `${SANDBOX_CCFLOW_DIR}/runs/run-1/a1/stdout.jsonl`;
  const host = sandbox.hostPath(inside);
  await mkdir(path.dirname(host), { recursive: true });
  await link(file, host);

  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeapUsed = base.heapUsed;
  let peakExternal = base.external;

  const session = profileOut ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const parser = new StreamJsonParser(0);
  const state = new RunState();
  let offset = 0;
  let events = 0;
  let parseMs = 0;
  let readMs = 0;
  let measuringMs = 0;
  const t0 = performance.now();
  for (;;) {
    const r0 = performance.now();
    const chunk = await sandbox.readFileFrom(inside, offset, READ_CHUNK_BYTES);
    readMs += performance.now() - r0;
    if (chunk.length === 0) break;
    offset += chunk.length;
    const p0 = performance.now();
    if (mode === 'json-only') {
      // The floor: decode each line and JSON.parse it, as the parser does, and nothing else (no
      // validation, no state; a line cut by the chunk boundary is skipped).
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl !== -1; start = nl + 1, nl = chunk.indexOf(0x0a, start)) {
        try {
          JSON.parse(chunk.toString('utf8', start, nl));
          events += 1;
        } catch {
          // the head of a line cut by the previous chunk boundary
        }
      }
    } else {
      for (const event of parser.push(chunk)) {
        state.apply(event);
        events += 1;
      }
    }
    const m0 = performance.now();
    parseMs += m0 - p0;
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeapUsed = Math.max(peakHeapUsed, m.heapUsed);
    peakExternal = Math.max(peakExternal, m.external);
    measuringMs += performance.now() - m0;
  }
  for (const event of parser.end()) {
    state.apply(event);
    events += 1;
  }
  // The memory sampling above is the benchmark's, not the runner's.
  const totalMs = performance.now() - t0 - measuringMs;
  if (session && profileOut) {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(profileOut, JSON.stringify(profile));
    session.disconnect();
  }
  gc?.();
  const retainedHeap = process.memoryUsage().heapUsed - base.heapUsed;
  if (mode !== 'json-only' && !state.result) throw new Error('the transcript has no result line: the parser lost it');
  await provider.destroy(sandbox.sandboxId);
  const out: ParseChildResult = {
    bytes: offset,
    events,
    garbageLines: state.garbageLines,
    totalMs,
    parseMs,
    readMs,
    baselineRss: base.rss,
    peakRss,
    baselineHeapUsed: base.heapUsed,
    peakHeapUsed,
    peakExternal,
    retainedHeap,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
