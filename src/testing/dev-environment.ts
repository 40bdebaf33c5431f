import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { CcflowClient } from '../client/index.js';
import { buildActivityDeps, createConfiguredWorkers, loadWorkerConfig } from '../worker/index.js';
import { startDevServer, type DevServer } from './dev-server.js';
import { parseScript, startModelServer, type ModelScriptInput, type ModelServer } from './model/index.js';

/** A whole ccflow on this machine, for tests: a Temporal dev server, the scripted model, a worker, a client. */
export interface DevEnvironment {
  client: CcflowClient;
  server: DevServer;
  model: ModelServer;
  /** Stops the worker, the servers, and removes the environment's state directory. */
  close(): Promise<void>;
}

export interface DevEnvironmentOpts {
  /** What the scripted model answers (see src/testing/model/script.ts). */
  script: ModelScriptInput;
  /** Environment of the worker besides the model and the server (CCFLOW_SANDBOX, CCFLOW_UNSAFE_NO_SANDBOX, ...). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a dev server on free ports, the scripted model server and a worker in this process
 * (local bubblewrap sandboxes, state in a temporary directory), and connects a client.
 */
export async function startDevEnvironment(o: DevEnvironmentOpts): Promise<DevEnvironment> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'ccflow-dev-'));
  const stops: Array<() => Promise<void>> = [() => rm(home, { recursive: true, force: true })];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const model = await startModelServer({ script: parseScript(o.script) });
    stops.push(() => model.close());
    const server = await startDevServer({ port: 0, headless: true });
    stops.push(() => server.stop());
    const config = loadWorkerConfig({
      ...o.env,
      CCFLOW_HOME: home,
      TEMPORAL_ADDRESS: server.address,
      ANTHROPIC_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'scripted-model-key',
    });
    const connection = await NativeConnection.connect({ address: server.address });
    stops.push(() => connection.close());
    const workers = await createConfiguredWorkers(connection, config, buildActivityDeps(config));
    const running = workers.run();
    stops.push(async () => {
      workers.shutdown();
      await running;
    });
    const client = await CcflowClient.connect({ address: server.address, taskQueue: config.taskQueue });
    stops.push(() => client.disconnect());
    return { client, server, model, close };
  } catch (err) {
    await close();
    throw err;
  }
}
