/**
 * The benchmark's worker: `ccflow worker` as `runWorker` builds it (configuration from the
 * environment, workflow code bundled in-process, the shared and host task queues), run as a
 * separate process from compiled JavaScript so its RSS is the worker's own, plus:
 * - a pass-through sandbox provider wrapper that records worker-side timings;
 * - its own RSS and event-loop delay (monitorEventLoopDelay), reported over the IPC channel;
 * - the V8 CPU profiler on request (an in-process inspector session, only while profiling).
 * Started by bench/lib/worker-handle.ts; not meant to be run by hand.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadWorkerConfig, localSandboxMounts } from '../src/worker/index.js';
import { LocalSandboxProvider } from '../src/sandbox/local/index.js';
import { buildActivityDeps, bundleWorkflows, createConfiguredWorkers } from '../src/worker/index.js';
import type { FromWorker, ToWorker, WorkerStats } from './lib/ipc.js';
import { timingProvider, type TimingRecord } from './timing-provider.js';

const RSS_SAMPLE_MS = 500;
/** monitorEventLoopDelay records whole timer intervals: the lag is what exceeds this. */
const ELD_RESOLUTION_MS = 10;

function send(m: FromWorker): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const repoRoot = process.env.BENCH_REPO_ROOT;
  if (!repoRoot) throw new Error('BENCH_REPO_ROOT is not set');

  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  let rssPeak = process.memoryUsage.rss();
  setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, RSS_SAMPLE_MS).unref();

  // Diagnostics: BENCH_CORE_LOG (e.g. `temporal_sdk_core=debug`) prints the SDK core's own log.
  if (process.env.BENCH_CORE_LOG) {
    Runtime.install({ telemetryOptions: { logging: { filter: process.env.BENCH_CORE_LOG, console: { format: 'compact' } } } });
  }
  const config = loadWorkerConfig(process.env);
  const deps = buildActivityDeps(config);
  // This build lives outside the package root: point the mounts at the real one.
  const local = new LocalSandboxProvider({
    rootDir: config.sandboxRoot,
    mounts: localSandboxMounts(repoRoot),
    isolation: config.unsafeNoSandbox ? 'none' : 'bubblewrap',
  });
  let records: TimingRecord[] = [];
  deps.providers = { ...deps.providers, local: timingProvider(local, (r) => records.push(r)) };

  // As shipped, the worker bundles its workflow code at start (webpack, in this process).
  // BENCH_WORKFLOW_BUNDLE names a bundle built beforehand instead, to measure what that costs.
  const tb = performance.now();
  const prebuilt = process.env.BENCH_WORKFLOW_BUNDLE;
  const workflowBundle = prebuilt ? { code: await readFile(prebuilt, 'utf8'), sourceMap: '' } : await bundleWorkflows();
  const bundleMs = prebuilt ? 0 : performance.now() - tb;
  const connection = await NativeConnection.connect({ address: config.address });
  const workers = await createConfiguredWorkers(connection, config, deps, workflowBundle);

  let profiler: Session | undefined;
  const onProfile = async (m: Extract<ToWorker, { type: 'profile-start' | 'profile-stop' }>) => {
    if (m.type === 'profile-start') {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: m.intervalUs });
      await profiler.post('Profiler.start');
      send({ type: 'profile-started' });
    } else {
      const session = profiler;
      if (!session) throw new Error('the profiler is not running');
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      profiler = undefined;
      await writeFile(m.file, JSON.stringify(profile));
      send({ type: 'profile-stopped' });
    }
  };

  process.on('message', (m: ToWorker) => {
    if (m.type === 'profile-start' || m.type === 'profile-stop') {
      onProfile(m).catch((err: unknown) => send({ type: 'error', message: String(err) }));
      return;
    }
    if (m.type === 'stats') {
      const mem = process.memoryUsage();
      const lag = (ns: number) => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
      const stats: WorkerStats = {
        rss: mem.rss,
        rssPeak: Math.max(rssPeak, mem.rss),
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        eventLoopDelay: {
          p50: lag(eld.percentile(50)),
          p99: lag(eld.percentile(99)),
          max: lag(eld.max),
          mean: lag(eld.mean),
          count: eld.count,
        },
      };
      send({ type: 'stats', stats });
      if (m.reset) {
        eld.reset();
        rssPeak = mem.rss;
      }
    } else if (m.type === 'timings') {
      send({ type: 'timings', records });
      records = [];
    } else if (m.type === 'shutdown') {
      workers.shutdown();
    }
  });
  // The parent going away ends this worker too.
  process.on('disconnect', () => workers.shutdown());

  const running = workers.run();
  send({ type: 'ready', startupMs: performance.now() - t0, bundleMs });
  try {
    await running;
  } finally {
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    console.error(err);
    process.exit(1);
  },
);
