/**
 * Builds bench/worker-process.ts (and src/) to plain JavaScript and runs it as a child process:
 * the worker's RSS must not include a TypeScript loader (tsx adds ~35 MB and a loader thread),
 * and `ccflow worker` itself runs compiled code from dist/. The parse benchmark's child and the
 * RSS steps run from the same build, for the same reasons.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { FromWorker, ToWorker, WorkerStats } from './ipc.js';
import type { TimingRecord } from '../timing-provider.js';
import { BENCH_TMP, BUILD_DIR, REPO_ROOT } from './paths.js';

const execFileAsync = promisify(execFile);
const ENTRY = path.join(BUILD_DIR, 'bench', 'worker-process.js');

/** Compiles the benchmark's child processes with the project's TypeScript; returns how long it took. */
export async function buildWorkerProcess(): Promise<number> {
  const t0 = Date.now();
  await rm(BUILD_DIR, { recursive: true, force: true });
  await mkdir(BENCH_TMP, { recursive: true });
  const tsconfig = path.join(BENCH_TMP, 'tsconfig.worker.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: path.join(REPO_ROOT, 'tsconfig.json'),
      compilerOptions: { rootDir: REPO_ROOT, outDir: BUILD_DIR, sourceMap: false, noEmit: false },
      // All of src: the workflow code and its interceptors are bundled from their own entry
      // points, which nothing imports.
      include: [path.join(REPO_ROOT, 'src', '**', '*.ts')],
      files: ['worker-process.ts', 'rss-steps.ts', 'parse-child.ts'].map((f) => path.join(REPO_ROOT, 'bench', f)),
    }),
  );
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await execFileAsync(process.execPath, [tsc, '-p', tsconfig], { cwd: REPO_ROOT });
  } catch (err) {
    // Type errors still emit JavaScript; only a missing output is fatal.
    const out = (err as { stdout?: string }).stdout ?? String(err);
    if (!existsSync(ENTRY)) throw new Error(`could not build the worker process:\n${out}`, { cause: err });
    console.warn(`bench: tsc reported type errors while building the worker (JavaScript was emitted):\n${out.slice(0, 2_000)}`);
  }
  // What the compiled worker mounts into sandboxes, where it looks for them (its package root
  // is BUILD_DIR): the bundled result server, and the relay and approval hook as they are.
  await execFileAsync(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'bundle-result-server.mjs'), path.join(BUILD_DIR, 'dist', 'sandbox', 'result-server.mjs')],
    { cwd: REPO_ROOT },
  );
  await symlink(path.join(REPO_ROOT, 'sandbox-template'), path.join(BUILD_DIR, 'sandbox-template'));
  return Date.now() - t0;
}

export interface WorkerProcessOpts {
  temporalAddress: string;
  modelUrl: string;
  apiKey: string;
  taskQueue: string;
  hostTaskQueue: string;
  sandboxRoot: string;
  artifactDir: string;
  maxConcurrentAgents: number;
  logFile: string;
  /** A workflow bundle built beforehand (see bundleToFile) instead of bundling at start. */
  workflowBundleFile?: string;
}

export interface WorkerProcess {
  pid: number;
  startupMs: number;
  bundleMs: number;
  stats(reset: boolean): Promise<WorkerStats>;
  timings(): Promise<TimingRecord[]>;
  /** Starts the V8 CPU profiler inside the worker (sampling every `intervalUs`). */
  startProfile(intervalUs: number): Promise<void>;
  /** Stops it and writes the `.cpuprofile` to `file`. */
  stopProfile(file: string): Promise<void>;
  /** Lets running tasks finish, then waits for the process to exit. */
  stop(): Promise<void>;
}

/** The worker's whole environment: explicit, so nothing of the caller's (a real API key included) leaks in. */
function workerEnv(o: Omit<WorkerProcessOpts, 'logFile'>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    BENCH_REPO_ROOT: REPO_ROOT,
    TEMPORAL_ADDRESS: o.temporalAddress,
    ANTHROPIC_BASE_URL: o.modelUrl,
    ANTHROPIC_API_KEY: o.apiKey,
    CCFLOW_TASK_QUEUE: o.taskQueue,
    CCFLOW_HOST_TASK_QUEUE: o.hostTaskQueue,
    CCFLOW_SANDBOX: 'local',
    CCFLOW_SANDBOX_ROOT: o.sandboxRoot,
    CCFLOW_ARTIFACT_DIR: o.artifactDir,
    CCFLOW_MAX_CONCURRENT_AGENTS: String(o.maxConcurrentAgents),
    ...(o.workflowBundleFile ? { BENCH_WORKFLOW_BUNDLE: o.workflowBundleFile } : {}),
    ...(process.env.BENCH_CORE_LOG ? { BENCH_CORE_LOG: process.env.BENCH_CORE_LOG } : {}),
  };
}

export interface RssStep {
  step: string;
  rss: number;
  heapUsed: number;
  external: number;
}

/** Starts a worker step by step in a fresh process (bench/rss-steps.ts) and returns the RSS after each step. */
export async function rssSteps(o: Omit<WorkerProcessOpts, 'logFile'>): Promise<RssStep[]> {
  const entry = path.join(BUILD_DIR, 'bench', 'rss-steps.js');
  const { stdout } = await execFileAsync(process.execPath, ['--expose-gc', entry], { cwd: REPO_ROOT, env: workerEnv(o) });
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RssStep);
}

export async function startWorkerProcess(o: WorkerProcessOpts): Promise<WorkerProcess> {
  const log = openSync(o.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [ENTRY], { cwd: REPO_ROOT, env: workerEnv(o), stdio: ['ignore', log, log, 'ipc'] });
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waiting: Array<{ type: FromWorker['type']; resolve: (m: FromWorker) => void }> = [];
  let failed: Error | undefined;
  child.on('message', (m: FromWorker) => {
    if (m.type === 'error') failed = new Error(`worker process failed: ${m.message}`);
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]?.resolve(m);
  });
  const next = <T extends FromWorker['type']>(type: T, timeoutMs = 60_000): Promise<Extract<FromWorker, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker process: no "${type}" message within ${timeoutMs} ms`)), timeoutMs);
      void exited.then(async (code) => {
        clearTimeout(timer);
        const tail = await readFile(o.logFile, 'utf8').catch(() => '');
        reject(failed ?? new Error(`worker process exited (code ${code}) before "${type}":\n${tail.slice(-2_000)}`));
      });
      waiting.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<FromWorker, { type: T }>);
        },
      });
    });
  const request = <T extends FromWorker['type']>(msg: ToWorker, type: T) => {
    const reply = next(type);
    child.send(msg);
    return reply;
  };

  const ready = await next('ready', 120_000);
  return {
    pid: child.pid ?? -1,
    startupMs: ready.startupMs,
    bundleMs: ready.bundleMs,
    stats: async (reset) => (await request({ type: 'stats', reset }, 'stats')).stats,
    timings: async () => (await request({ type: 'timings' }, 'timings')).records,
    startProfile: async (intervalUs) => {
      await request({ type: 'profile-start', intervalUs }, 'profile-started');
    },
    stopProfile: async (file) => {
      await request({ type: 'profile-stop', file }, 'profile-stopped');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'shutdown' } satisfies ToWorker);
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Bundles the compiled workflow code once, in a short-lived process, and writes it to a file: a
 * worker given the file never loads webpack.
 */
export async function bundleToFile(file: string): Promise<void> {
  const worker = pathToFileURL(path.join(BUILD_DIR, 'src', 'worker', 'index.js')).href;
  const script = `const { bundleWorkflows } = await import(${JSON.stringify(worker)}); const b = await bundleWorkflows(); (await import('node:fs')).writeFileSync(${JSON.stringify(file)}, b.code);`;
  await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
}

/** VmRSS and VmHWM (peak) of a process, in bytes, from /proc/<pid>/status. */
export async function procMemory(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
