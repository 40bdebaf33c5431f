/**
 * The benchmark's world: a Temporal dev server on free ports, the scripted model server (in this
 * process), a client, worker processes built from the current source, and, for what the
 * benchmark runs in sandboxes of its own (the (b) baseline, git capture), a sandbox security
 * like a worker's: its jails reach the model only through its model proxy.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseScript, startModelServer, type ModelServer } from '../../src/testing/model/index.js';
import { startDevServer, type DevServer } from '../../src/testing/dev-server.js';
import { SandboxSecurity } from '../../src/worker/security.js';
import { benchScript } from '../scenario.js';
import { BENCH_TMP } from './paths.js';
import { startWorkerProcess, type WorkerProcess } from './worker-handle.js';

/** A fake key: the scripted model accepts any, and a real one must never be used here. */
export const BENCH_API_KEY = 'sk-bench-not-a-real-key';
export const TASK_QUEUE = 'ccflow';
export const HOST_TASK_QUEUE = 'ccflow@bench';

export interface BenchEnv {
  server: DevServer;
  model: ModelServer;
  client: Client;
  /** Proxies and limit/disk mechanisms for the benchmark's own sandboxes (benchLocalProvider). */
  security: SandboxSecurity;
  /** Scratch directory of this run (sandboxes, artifacts, logs, profiles). */
  dir: string;
  startWorker(o: { name: string; maxConcurrentAgents: number; workflowBundleFile?: string }): Promise<WorkerProcess>;
  close(): Promise<void>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  const dir = path.join(BENCH_TMP, 'run');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const model = await startModelServer({ script: parseScript(benchScript, 'bench script') });
  const server = await startDevServer({ port: 0, headless: true }).catch(async (err: unknown) => {
    await model.close();
    throw err;
  });
  const security = await SandboxSecurity.start({
    stateDir: path.join(dir, 'bench-proxy'),
    upstreamUrl: model.url,
    credential: { kind: 'apiKey', value: BENCH_API_KEY },
    isolation: 'bubblewrap',
    log: (level, message, fields) => {
      if (level !== 'info') console.error(`bench proxy: ${level}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
    },
  }).catch(async (err: unknown) => {
    await Promise.all([server.stop(), model.close()]);
    throw err;
  });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const workers: WorkerProcess[] = [];
  return {
    server,
    model,
    client,
    security,
    dir,
    async startWorker(o) {
      const w = await startWorkerProcess({
        temporalAddress: server.address,
        modelUrl: model.url,
        apiKey: BENCH_API_KEY,
        taskQueue: TASK_QUEUE,
        hostTaskQueue: HOST_TASK_QUEUE,
        sandboxRoot: path.join(dir, 'sandboxes'),
        artifactDir: path.join(dir, 'artifacts'),
        maxConcurrentAgents: o.maxConcurrentAgents,
        logFile: path.join(dir, `worker-${o.name}.log`),
        workflowBundleFile: o.workflowBundleFile,
      });
      workers.push(w);
      return w;
    },
    async close() {
      for (const w of workers) await w.stop().catch(() => undefined);
      await connection.close();
      await security.close();
      await Promise.all([server.stop(), model.close()]);
    },
  };
}
