import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createActivities, type ActivityDeps } from '../../src/activities/index.js';
import { createGitHost, type GitHostConfig } from '../../src/git/index.js';
import { LocalArtifactStore } from '../../src/artifacts/local.js';
import { localSandboxMounts } from '../../src/worker/index.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { startModelServer, type ModelServer, type ModelScriptInput, parseScript } from '../../src/testing/model/index.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/index.js';
import type { SandboxProvider } from '../../src/sandbox/types.js';
import { DEFAULT_TASK_QUEUE, hostTaskQueueName } from '../../src/domain/constants.js';
import { startDevServer, type DevServer } from '../../src/testing/dev-server.js';
import { bundleWorkflows, createWorkers, type CcflowWorkers } from '../../src/worker/index.js';

export const TEST_API_KEY = 'sk-test-ccflow-secret-0123456789';

/**
 * Processes (inside sandboxes) that still carry this harness's API key in their environment:
 * the agent, its wrapper shell and its MCP server. Empty after every well-behaved test.
 */
export async function processesWithKey(apiKey: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`).catch(() => undefined);
    if (environ?.includes(`ANTHROPIC_API_KEY=${apiKey}\0`)) {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      if (!/\) Z /.test(stat)) found.push(Number(entry));
    }
  }
  return found;
}

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
  /** This harness's model key: unique, so its processes can be told apart from any other's. */
  apiKey: string;
  startWorker(overrides?: Partial<ActivityDeps>): Promise<CcflowWorkers>;
  /** `ccflow worker` as a child process, configured like the in-process one (for crash tests). */
  spawnWorker(): Promise<ChildProcess>;
  /** Stops the dev server and starts it again on the same port and database file. */
  restartServer(): Promise<void>;
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
  /** Keep the server's state in a SQLite file (needed to restart it). */
  persistent?: boolean;
  /** Serve the dev server's Web UI too (`harness.server.uiUrl`), for browser tests. */
  ui?: boolean;
  /** The queue workers poll. @default DEFAULT_TASK_QUEUE */
  taskQueue?: string;
  /** The worker's git setup (credentials, limits); its HOME is a fresh directory, so no user config leaks in. */
  git?: Omit<GitHostConfig, 'env'>;
}): Promise<Harness> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-test-'));
  // Started one after another so a failure closes what already runs (no hung test process).
  const model = await startModelServer({ script: parseScript(o.script) });
  const dbFile = o.persistent ? path.join(tmp, 'temporal.db') : undefined;
  let server = await startDevServer({ port: 0, headless: !o.ui, dbFile }).catch(async (err: unknown) => {
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
  const taskQueue = o.taskQueue ?? DEFAULT_TASK_QUEUE;
  const apiKey = `${TEST_API_KEY}-${randomBytes(6).toString('hex')}`;
  const gitHome = path.join(tmp, 'git-home');
  await mkdir(gitHome, { recursive: true });
  const hostTaskQueue = hostTaskQueueName(taskQueue, `test-${path.basename(tmp)}`);
  const deps: ActivityDeps = {
    providers: { [provider.name]: provider },
    defaultProvider: provider.name,
    model: { baseUrl: model.url, apiKey },
    artifacts,
    hostTaskQueue,
    timing: { pollIntervalMs: 50, progressIntervalMs: 500, resultGraceMs: 3_000, ...o.timing },
    git: {
      host: createGitHost({ env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: gitHome, GIT_CONFIG_NOSYSTEM: '1' }, ...o.git }),
      scratchDir: tmp,
    },
  };
  const workers: Array<{ w: CcflowWorkers; running: Promise<void> }> = [];
  const children: ChildProcess[] = [];
  return {
    get server() {
      return server;
    },
    model,
    client,
    provider,
    artifacts,
    deps,
    tmp,
    taskQueue,
    hostTaskQueue,
    apiKey,
    async spawnWorker() {
      if (provider.name !== 'local') throw new Error('spawnWorker runs the local provider only');
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'worker'], {
        cwd: PACKAGE_ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TEMPORAL_ADDRESS: server.address,
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_API_KEY: apiKey,
          CCFLOW_SANDBOX_ROOT: path.join(tmp, 'sandboxes'),
          CCFLOW_ARTIFACT_DIR: path.join(tmp, 'artifacts'),
          CCFLOW_TASK_QUEUE: taskQueue,
          CCFLOW_HOST_TASK_QUEUE: hostTaskQueue,
        },
      });
      children.push(child);
      // Ready once it says it polls (it bundles workflow code first).
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr?.on('data', (d: Buffer) => {
          err += d.toString('utf8');
          if (err.includes('ccflow worker: polling')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${err.slice(-2000)}`)));
      });
      return child;
    },
    async restartServer() {
      if (!dbFile) throw new Error('restartServer needs startHarness({ persistent: true })');
      const port = server.port;
      await server.stop();
      server = await startDevServer({ port, headless: true, dbFile });
    },
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
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const { w, running } of workers) {
        try {
          w.shutdown();
        } catch {
          // already stopped by the test
        }
        await running.catch(() => undefined);
      }
      await clientConnection.close();
      await connection.close();
      await Promise.all([server.stop(), model.close(), made.close?.()]);
      await rm(tmp, { recursive: true, force: true });
      // A script that called a tool the CLI never offered passed only because the scripted
      // model is more forgiving than a real one: that is a failed test, whatever it asserted.
      const refused = model.refusals();
      if (refused.length > 0) {
        throw new Error(
          `the scripted model refused ${refused.length} step(s) that called tools the CLI did not offer:\n${refused.map((r) => `  ${r.message}`).join('\n')}`,
        );
      }
    },
  };
}

export { createActivities };
