import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createLogger } from '../worker/telemetry.js';
import { loadWorkerConfig } from '../worker/index.js';
import { ccflowHome } from '../home.js';
import { freePort, startDevServer, type DevServer } from '../testing/dev-server.js';
import { buildActivityDeps, createConfiguredWorkers } from '../worker/index.js';
import { CcflowClient, describeFailure } from '../client/index.js';
import { formatResult } from './output.js';

const DEMO_PROMPT =
  'Create a file named hello.txt in the workspace with a one-line greeting, check it with cat, ' + 'then summarize what you did.';

/**
 * `npm run demo`: everything on embedded defaults. A dev server (unless one answers at
 * TEMPORAL_ADDRESS), a worker in this process, the scripted model (unless ANTHROPIC_API_KEY is
 * set), and one real task in a bubblewrap sandbox.
 */
export async function runDemo(o: { keep: boolean }): Promise<number> {
  const say = (s: string) => process.stderr.write(`demo: ${s}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  const stops: Array<() => Promise<void>> = [];
  try {
    if (!env.ANTHROPIC_API_KEY) {
      const { startModelServer, defaultScript } = await import('../testing/model/index.js');
      const model = await startModelServer({ script: defaultScript });
      stops.push(() => model.close());
      env.ANTHROPIC_BASE_URL = model.url;
      env.ANTHROPIC_API_KEY = 'scripted-model-key';
      say(`scripted model at ${model.url} (set ANTHROPIC_API_KEY to use a real model)`);
    } else {
      say(`using the real model endpoint ${env.ANTHROPIC_BASE_URL ?? 'api.anthropic.com'}`);
    }

    let uiUrl: string | undefined;
    const configured = env.TEMPORAL_ADDRESS;
    if (configured && (await reachable(configured))) {
      say(`using the Temporal server at ${configured}`);
    } else {
      const server = await startServer(path.join(ccflowHome(env), 'temporal.db'));
      stops.push(() => server.stop());
      env.TEMPORAL_ADDRESS = server.address;
      uiUrl = server.uiUrl;
      say(`Temporal dev server at ${server.address}, Web UI at ${server.uiUrl}`);
    }

    // The demo tells its own story; the worker only speaks up when something is wrong.
    Runtime.install({ logger: createLogger({ logLevel: 'WARN', logFormat: 'text' }) });
    const config = loadWorkerConfig(env);
    const connection = await NativeConnection.connect({ address: config.address });
    stops.push(() => connection.close());
    const workers = await createConfiguredWorkers(connection, config, buildActivityDeps(config));
    const running = workers.run();
    stops.push(async () => {
      workers.shutdown();
      await running;
    });
    say('worker started; running one task');

    const client = await CcflowClient.connect({ address: config.address, namespace: config.namespace, taskQueue: config.taskQueue });
    stops.push(() => client.disconnect());
    const handle = await client.start({ prompt: DEMO_PROMPT });
    say(`workflow ${handle.workflowId}`);
    if (uiUrl) say(`watch it: ${uiUrl}/namespaces/${config.namespace}/workflows/${handle.workflowId}`);
    try {
      const result = await handle.result();
      process.stdout.write(`${formatResult(result)}\n`);
    } catch (err) {
      say(`the task failed: ${describeFailure(err)}`);
      return 1;
    }
    if (o.keep) {
      say('--keep: the server and worker stay up; press Ctrl-C to stop');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    } else if (uiUrl) {
      say(`done. The run is stored in ${path.join(ccflowHome(env), 'temporal.db')}: \`npx ccflow server\` shows it in the Web UI again.`);
    }
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

async function reachable(address: string): Promise<boolean> {
  try {
    const conn = await Connection.connect({ address, connectTimeout: 1_000 });
    await conn.close();
    return true;
  } catch {
    return false;
  }
}

/** The usual ports when they are free (so Web UI links are the familiar ones), any free ports otherwise. */
async function startServer(dbFile: string): Promise<DevServer> {
  if (!(await reachable('127.0.0.1:7233'))) {
    try {
      return await startDevServer({ port: 7233, uiPort: 8233, dbFile });
    } catch {
      // fall through to free ports
    }
  }
  return startDevServer({ port: await freePort(), uiPort: await freePort(), dbFile });
}
