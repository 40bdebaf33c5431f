/**
 * `npm run bench`: ccflow's overhead against raw `claude -p`, concurrency, worker memory and
 * event-loop lag, stream parsing, history size, and the cost of working on a git repository,
 * all with the scripted model, in one run.
 * Writes bench/results.md and bench/results.json. `npm run bench -- --quick` is a fast sanity
 * pass with fewer iterations and smaller sizes, written to bench/tmp/results-quick.{md,json}
 * (git-ignored) so it never replaces the numbers of a full run.
 *
 * Options: --quick, --only <overhead,history,concurrency,parse,git> (comma-separated), --iterations N,
 * --render (only write the Markdown again from the JSON of the last run, e.g. after changing report.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { concurrencyLevel, type ConcurrencyLevel } from './concurrency.js';
import { gitBench } from './git.js';
import { historyBench } from './history-size.js';
import { summarizeCpuProfile, type ProfileSummary } from './lib/cpu-profile.js';
import { BENCH_API_KEY, HOST_TASK_QUEUE, TASK_QUEUE, startBenchEnv, type BenchEnv } from './lib/env.js';
import { machineInfo, versions } from './lib/machine.js';
import { BENCH_DIR, BENCH_TMP } from './lib/paths.js';
import { renderMarkdown } from './report.js';
import { buildWorkerProcess, bundleToFile, rssSteps } from './lib/worker-handle.js';
import { overheadBench } from './overhead.js';
import { parseBench } from './parse.js';

import { SECTIONS, type BenchConfig, type BenchResults, type ConcurrencyResult, type Section, type WorkerInfo } from './lib/results.js';

function config(argv: string[]): BenchConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      iterations: { type: 'string' },
      render: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick ?? false;
  const sections = values.only ? (values.only.split(',') as Section[]) : [...SECTIONS];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section "${s}" (known: ${SECTIONS.join(', ')})`);
  const iterations = values.iterations ? Number(values.iterations) : quick ? 3 : 20;
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error('--iterations must be a positive integer');
  return {
    quick,
    render: values.render ?? false,
    iterations,
    concurrencyLevels: quick ? [2, 5] : [10, 25, 50],
    parseSizesMiB: quick ? [5, 20] : [10, 100],
    sections,
  };
}

const log = (s: string) => console.log(s);

const resultsBase = (quick: boolean) => (quick ? path.join(BENCH_TMP, 'results-quick') : path.join(BENCH_DIR, 'results'));

async function main(): Promise<void> {
  const cfg = config(process.argv.slice(2));
  if (cfg.render) {
    const base = resultsBase(cfg.quick);
    await writeFile(`${base}.md`, renderMarkdown(JSON.parse(await readFile(`${base}.json`, 'utf8')) as BenchResults));
    log(`wrote ${path.relative(process.cwd(), base)}.md from its .json`);
    return;
  }
  const started = Date.now();
  const load: BenchResults['meta']['load'] = {};
  const section = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    log(`${name}…`);
    const start = os.loadavg()[0] ?? 0;
    const out = await fn();
    load[name] = { start, end: os.loadavg()[0] ?? 0 };
    return out;
  };
  const results: BenchResults = {
    meta: {
      mode: cfg.quick ? 'quick' : 'full',
      startedAt: new Date(started).toISOString(),
      durationS: 0,
      machine: await machineInfo(),
      versions: await versions(),
      load,
      config: cfg,
    },
  };
  log(
    `ccflow bench (${results.meta.mode}): ${results.meta.machine.cpus} × ${results.meta.machine.cpuModel}, node ${results.meta.versions.node}`,
  );

  log(`building the worker and the parser's process… (${await buildWorkerProcess()} ms)`);
  // Parsing first, while nothing else of the benchmark runs.
  if (cfg.sections.includes('parse')) results.parse = await section('parse', () => parseBench({ sizesMiB: cfg.parseSizesMiB, log }));

  const needsEnv = cfg.sections.some((s) => s !== 'parse');
  if (needsEnv) {
    const env = await startBenchEnv();
    try {
      if (cfg.sections.includes('overhead') || cfg.sections.includes('history') || cfg.sections.includes('git')) {
        // The worker as `ccflow worker` runs by default (CCFLOW_MAX_CONCURRENT_AGENTS unset: 8).
        const worker = await env.startWorker({ name: 'default', maxConcurrentAgents: 8 });
        try {
          if (cfg.sections.includes('overhead')) {
            results.overhead = await section('overhead', () => overheadBench(env, worker, { iterations: cfg.iterations, log }));
          }
          if (cfg.sections.includes('history')) results.history = await section('history', () => historyBench(env, log));
          if (cfg.sections.includes('git')) {
            results.git = await section('git', () => gitBench(env, worker, { iterations: cfg.iterations, quick: cfg.quick, log }));
          }
        } finally {
          await worker.stop();
        }
      }
      if (cfg.sections.includes('concurrency')) {
        results.concurrency = await section('concurrency', () => concurrencyBench(env, cfg));
      }
    } finally {
      await env.close();
    }
  }

  results.meta.durationS = (Date.now() - started) / 1000;
  const base = resultsBase(cfg.quick);
  await writeFile(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(`${base}.md`, renderMarkdown(results));
  log(`wrote ${path.relative(process.cwd(), base)}.md and .json in ${results.meta.durationS.toFixed(0)} s`);
}

async function concurrencyBench(env: BenchEnv, cfg: BenchConfig): Promise<ConcurrencyResult> {
  const max = Math.max(...cfg.concurrencyLevels);
  const bundleFile = path.join(BENCH_TMP, 'workflow-bundle.js');
  await bundleToFile(bundleFile);
  const stepsOpts = {
    temporalAddress: env.server.address,
    modelUrl: env.model.url,
    apiKey: BENCH_API_KEY,
    // Queues nobody submits to: these workers only start and stop.
    taskQueue: `${TASK_QUEUE}-rss-steps`,
    hostTaskQueue: `${HOST_TASK_QUEUE}-rss-steps`,
    sandboxRoot: path.join(env.dir, 'sandboxes'),
    artifactDir: path.join(env.dir, 'artifacts'),
    maxConcurrentAgents: max,
  };
  const rss = { shipped: await rssSteps(stepsOpts), prebuilt: await rssSteps({ ...stepsOpts, workflowBundleFile: bundleFile }) };

  const run = async (name: string, levels: number[], variant?: { workflowBundleFile: string }) => {
    const worker = await env.startWorker({ name, maxConcurrentAgents: max, ...variant });
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      const info: WorkerInfo = {
        maxConcurrentAgents: max,
        startupMs: worker.startupMs,
        bundleMs: worker.bundleMs,
        idle: await worker.stats(true),
      };
      const out: ConcurrencyLevel[] = [];
      let profile: ProfileSummary | undefined;
      for (const n of levels) {
        const profiled = n === max && !variant;
        if (profiled) await worker.startProfile(10_000);
        out.push(await concurrencyLevel(env, worker, n, { idPrefix: `bench-${name}`, log }));
        if (profiled) {
          const file = path.join(env.dir, `worker-${name}-${n}.cpuprofile`);
          await worker.stopProfile(file);
          profile = await summarizeCpuProfile(file, 12, ['onProfile']);
        }
      }
      return { info, levels: out, profile };
    } finally {
      await worker.stop();
    }
  };

  const shipped = await run('concurrency', cfg.concurrencyLevels);
  const result: ConcurrencyResult = { worker: shipped.info, levels: shipped.levels, profile: shipped.profile, rssSteps: rss };
  if (!cfg.quick) {
    log('  again with a prebuilt workflow bundle:');
    const variant = await run('concurrency-prebuilt', [max], { workflowBundleFile: bundleFile });
    const level = variant.levels[0];
    if (level) result.variant = { worker: variant.info, level };
  }
  return result;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
