/**
 * Where a worker's RSS comes from: starts a worker step by step, as `ccflow worker` does, and
 * prints the RSS after each step (one JSON line per step). Compiled and run by the benchmark
 * in a fresh process; BENCH_WORKFLOW_BUNDLE set means "use this prebuilt bundle, no webpack".
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

interface Step {
  step: string;
  rss: number;
  heapUsed: number;
  external: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function measure(step: string): Step {
  gc?.();
  const m = process.memoryUsage();
  const s = { step, rss: m.rss, heapUsed: m.heapUsed, external: m.external };
  process.stdout.write(`${JSON.stringify(s)}\n`);
  return s;
}

async function main(): Promise<void> {
  measure('node');
  const { NativeConnection } = await import('@temporalio/worker');
  measure('import @temporalio/worker');
  const { buildActivityDeps, bundleWorkflows, createConfiguredWorkers } = await import('../src/worker/index.js');
  const { loadWorkerConfig } = await import('../src/worker/index.js');
  measure('import ccflow worker code (activities, providers, zod, e2b)');
  const config = loadWorkerConfig(process.env);
  const deps = buildActivityDeps(config);
  const connection = await NativeConnection.connect({ address: config.address });
  measure('connect (Temporal core runtime)');
  const prebuilt = process.env.BENCH_WORKFLOW_BUNDLE;
  const workflowBundle = prebuilt ? { code: await readFile(prebuilt, 'utf8'), sourceMap: '' } : await bundleWorkflows();
  measure(prebuilt ? 'load prebuilt workflow bundle' : 'bundle workflow code (webpack)');
  const workers = await createConfiguredWorkers(connection, config, deps, workflowBundle);
  const running = workers.run();
  await sleep(2_000);
  measure('workers created and polling (2 s)');
  workers.shutdown();
  await running;
  await connection.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
