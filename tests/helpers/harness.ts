import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities, type ActivityDeps } from '../../src/activities/index.js';
import { LocalArtifactStore } from '../../src/artifacts/local.js';
import { localSandboxMounts } from '../../src/config.js';
import { startModelServer, type ModelServer, type ModelScriptInput, parseScript } from '../../src/model/index.js';
import { LocalSandboxProvider } from '../../src/sandbox/local.js';
import type { SandboxProvider } from '../../src/sandbox/types.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { bundleWorkflows, createWorkers, type CcflowWorkers } from '../../src/worker.js';

export const TEST_API_KEY = 'sk-test-ccflow-secret-0123456789';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

/** Makes the sandbox provider a harness runs tasks in; `close` tears down whatever it started. */
export type ProviderFactory = (tmp: string) => Promise<{ provider: SandboxProvider; close?: () => Promise<void> }>;

/** The default: the local bubblewrap provider under the harness's temp dir. */
export const localProviderFactory: ProviderFactory = async (tmp) => ({
  provider: new LocalSandboxProvider({ rootDir: path.join(tmp, 'sandboxes'), mounts: localSandboxMounts() }),
});

export interface Harness {
  server: DevServer;
  model: ModelServer;
  client: Client;
  provider: SandboxProvider;
  artifacts: LocalArtifactStore;
  deps: ActivityDeps;
  tmp: string;
  taskQueue: string;
  hostTaskQueue: string;
  startWorker(overrides?: Partial<ActivityDeps>): Promise<CcflowWorkers>;
  close(): Promise<void>;
}

/**
 * A real Temporal dev server on free ports, the scripted model server, a local bubblewrap
 * provider under a temp dir, and a worker in this process, wired like `ccflow worker` does.
 */
export async function startHarness(o: {
  script: ModelScriptInput;
  timing?: ActivityDeps['timing'];
  providerFactory?: ProviderFactory;
}): Promise<Harness> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-test-'));
  // Started one after another so a failure closes what already runs (no hung test process).
  const model = await startModelServer({ script: parseScript(o.script) });
  const server = await startDevServer({ port: 0, headless: true }).catch(async (err: unknown) => {
    await model.close();
    throw err;
  });
  const wfBundle = await workflowBundle();
  const connection = await NativeConnection.connect({ address: server.address });
  const clientConnection = await Connection.connect({ address: server.address });
  const client = new Client({ connection: clientConnection });
  const made = await (o.providerFactory ?? localProviderFactory)(tmp);
  const provider = made.provider;
  const artifacts = new LocalArtifactStore(path.join(tmp, 'artifacts'));
  const taskQueue = 'ccflow';
  const hostTaskQueue = `ccflow@test-${path.basename(tmp)}`;
  const deps: ActivityDeps = {
    providers: { [provider.name]: provider },
    defaultProvider: provider.name,
    model: { baseUrl: model.url, apiKey: TEST_API_KEY },
    artifacts,
    taskQueue,
    hostTaskQueue,
    timing: { pollIntervalMs: 50, progressIntervalMs: 500, resultGraceMs: 3_000, ...o.timing },
  };
  const workers: Array<{ w: CcflowWorkers; running: Promise<void> }> = [];
  return {
    server,
    model,
    client,
    provider,
    artifacts,
    deps,
    tmp,
    taskQueue,
    hostTaskQueue,
    async startWorker(overrides = {}) {
      const w = await createWorkers({
        connection,
        namespace: 'default',
        taskQueue,
        hostTaskQueue,
        deps: { ...deps, ...overrides },
        workflowBundle: wfBundle,
      });
      workers.push({ w, running: w.run() });
      return w;
    },
    async close() {
      for (const { w, running } of workers) {
        w.shutdown();
        await running.catch(() => undefined);
      }
      await clientConnection.close();
      await connection.close();
      await Promise.all([server.stop(), model.close(), made.close?.()]);
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

export { createActivities };
