import os from 'node:os';
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { LocalArtifactStore } from '../artifacts/local.js';
import { createGitHost } from '../git/index.js';
import { bundleWorkflows } from './bundle.js';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { buildProviders } from './providers.js';
import { createActivityMetrics, installRuntime } from './telemetry.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { NatsLiveSink } from './live-nats.js';
import { describeTarget } from '../frontends/nats/connection.js';

/** The activity dependencies of a worker configured from its environment. */
export function buildActivityDeps(config: WorkerConfig): ActivityDeps {
  if (!config.model.apiKey) {
    throw new Error(
      'ANTHROPIC_API_KEY is not set: the worker passes it to claude at run time. For offline runs start ' +
        '`ccflow model serve` and use the ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY it prints.',
    );
  }
  return {
    providers: buildProviders(config),
    defaultProvider: config.defaultProvider,
    model: { baseUrl: config.model.baseUrl, apiKey: config.model.apiKey },
    artifacts: new LocalArtifactStore(config.artifactDir),
    hostTaskQueue: config.hostTaskQueue,
    git: { host: createGitHost(config.git), scratchDir: os.tmpdir() },
    ...(config.live
      ? {
          live: new NatsLiveSink({
            connection: { server: config.live.natsUrl, ...(config.live.natsCreds ? { creds: config.live.natsCreds } : {}) },
            subjectPrefix: config.live.subjectPrefix,
            onError: (err) => console.error(`ccflow worker: live events: ${String(err)}`),
          }),
        }
      : {}),
  };
}

export interface CcflowWorkers {
  /** Runs until shutdown() or a fatal error. */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * A ccflow worker is two Temporal workers sharing one connection and one set of activities:
 * one on the shared queue (workflows + any activity) and one on this host's own queue, where
 * activities on this host's bubblewrap sandboxes are sent.
 */
export async function createWorkers(o: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  hostTaskQueue: string;
  deps: ActivityDeps;
  workflowBundle?: WorkflowBundleWithSourceMap;
  maxConcurrentAgents?: number;
}): Promise<CcflowWorkers> {
  // The workflows upsert ccflow's search attributes: without them every workflow task fails.
  // A namespace (or a dev server database) made before they existed gets them here.
  const added = await ensureSearchAttributes(o.connection.operatorService, o.namespace).catch((err: unknown) => {
    console.error(
      `ccflow worker: could not check ccflow's search attributes (${String(err)}); register them with \`ccflow temporal operator search-attribute create\``,
    );
    return [];
  });
  if (added.length > 0) console.error(`ccflow worker: registered search attributes ${added.join(', ')}`);
  const activities = createActivities(o.deps);
  const workflowBundle = o.workflowBundle ?? (await bundleWorkflows());
  const maxConcurrentActivityTaskExecutions = o.maxConcurrentAgents ?? 8;
  // Heartbeats carry cancellation back to a running agent: send them often enough that
  // `ccflow cancel` kills the agent within seconds, not at 80% of the heartbeat timeout.
  const heartbeatThrottle = { maxHeartbeatThrottleInterval: '2s', defaultHeartbeatThrottleInterval: '2s' } as const;
  // ccflow's activity metrics (agents running, tokens, cost, sandbox latency) on Temporal's meter.
  const interceptors = { activity: [createActivityMetrics().interceptor] };
  const shared = await Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    activities,
    workflowBundle,
    maxConcurrentActivityTaskExecutions,
    ...heartbeatThrottle,
    interceptors,
  });
  const host = await Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.hostTaskQueue,
    activities,
    maxConcurrentActivityTaskExecutions,
    ...heartbeatThrottle,
    interceptors,
  });
  return {
    run: async () => {
      try {
        await Promise.all([shared.run(), host.run()]);
      } finally {
        await o.deps.live?.close?.();
      }
    },
    shutdown: () => {
      shared.shutdown();
      host.shutdown();
    },
  };
}

/** createWorkers with the queues, namespace and concurrency a WorkerConfig names. */
export function createConfiguredWorkers(
  connection: NativeConnection,
  config: WorkerConfig,
  deps: ActivityDeps,
  workflowBundle?: WorkflowBundleWithSourceMap,
): Promise<CcflowWorkers> {
  return createWorkers({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    hostTaskQueue: config.hostTaskQueue,
    deps,
    workflowBundle,
    maxConcurrentAgents: config.maxConcurrentAgents,
  });
}

/** `ccflow worker`: a worker configured from the environment, until SIGINT/SIGTERM. */
export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadWorkerConfig(env);
  const deps = buildActivityDeps(config);
  // JSON logs and the metrics endpoint: before the first connection creates a default runtime.
  installRuntime({ metricsPort: config.metricsPort, logLevel: config.logLevel, logFormat: config.logFormat });
  const connection = await NativeConnection.connect({ address: config.address });
  try {
    const workers = await createConfiguredWorkers(connection, config, deps);
    console.error(
      `ccflow worker: polling ${config.taskQueue} and ${config.hostTaskQueue} on ${config.address} ` +
        `(sandbox: ${config.defaultProvider}${config.unsafeNoSandbox ? ', UNISOLATED' : ''}; model: ${config.model.baseUrl ?? 'Anthropic API'}` +
        `${config.metricsPort !== undefined ? `; metrics: http://0.0.0.0:${config.metricsPort}/metrics` : ''}` +
        `${config.live ? `; live events: ${config.live.subjectPrefix}.> on ${describeTarget({ server: config.live.natsUrl })}` : ''})`,
    );
    await workers.run();
  } finally {
    await connection.close();
  }
}
