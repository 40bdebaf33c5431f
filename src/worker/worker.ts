import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.js';
import { describeArtifactStore, openArtifactStore } from '../artifacts/open.js';
import { createGitHost } from '../git/index.js';
import { bundleWorkflows } from './bundle.js';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { buildProviders } from './providers.js';
import { SandboxSecurity } from './security.js';
import { createActivityMetrics, installRuntime } from './telemetry.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { startSweeper } from './sweep.js';
import { NatsLiveSink } from './live-nats.js';
import { describeTarget } from '../frontends/nats/connection.js';

/** Activities a worker runs beside its agents (fetch a result, save a session, probe, create a sandbox). */
const BOOKKEEPING_ACTIVITY_SLOTS = 32;

/** What a worker runs its activities with: their dependencies, and the security behind them. */
export interface WorkerServices {
  deps: ActivityDeps;
  security: SandboxSecurity;
  /** Lines for the start message: mechanisms and modes (info), and what needs attention (warnings). */
  describe(): { info: string[]; warnings: string[] };
  close(): Promise<void>;
}

/**
 * Starts the model and egress proxies, finds this host's limit mechanisms, and builds the
 * activity dependencies of a worker configured from its environment.
 */
export async function buildWorkerServices(
  config: WorkerConfig,
  o: { meter?: MetricMeter; log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void } = {},
): Promise<WorkerServices> {
  const credential = config.model.credential;
  if (credential === undefined) {
    throw new Error(
      "ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN, CLAUDE_CODE_OAUTH_TOKEN) is not set: the worker's model proxy " +
        'adds it to the requests of its sandboxes. For offline runs start `ccflow model serve` and use the ' +
        'ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY it prints.',
    );
  }
  const s = config.security;
  const security = await SandboxSecurity.start({
    stateDir: s.stateDir,
    upstreamUrl: config.model.baseUrl,
    credential,
    secret: s.secret,
    modelProxyListen: s.modelProxyListen,
    modelProxyUrl: s.modelProxyUrl,
    e2bPassModelKey: s.e2bPassModelKey,
    isolation: config.unsafeNoSandbox ? 'none' : 'bubblewrap',
    limits: { prefer: s.limits, cgroupParent: s.cgroupParent },
    disk: s.disk,
    meter: o.meter,
    log:
      o.log ??
      ((level, message, fields) => console.error(`ccflow worker: ${level}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`)),
  });
  try {
    const deps: ActivityDeps = {
      providers: await buildProviders(config, security, config.e2b ? await security.e2bModelEndpoints() : []),
      defaultProvider: config.defaultProvider,
      model: security.modelAccess,
      sandboxPolicy: { networkMax: s.networkMax, defaults: s.defaults, caps: s.caps },
      artifacts: openArtifactStore(config.artifacts),
      hostTaskQueue: config.hostTaskQueue,
      hostStartTimeoutSeconds: config.hostStartTimeoutSeconds,
      maxConcurrentAgents: config.maxConcurrentAgents,
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
    return { deps, security, describe: () => security.describe(), close: () => security.close() };
  } catch (err) {
    await security.close();
    throw err;
  }
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
  // Agents are capped inside runClaude (AgentSlots); the workers take more activities than
  // that, so a quick one on the host queue never waits behind agents: an activity that waits
  // there past the host start bound reads as a lost host.
  const maxConcurrentActivityTaskExecutions = (o.maxConcurrentAgents ?? o.deps.maxConcurrentAgents ?? 8) + BOOKKEEPING_ACTIVITY_SLOTS;
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
  // JSON logs and the metrics endpoint: before the first connection creates a default runtime.
  const runtime = installRuntime({
    metricsPort: config.metricsPort,
    metricsHost: config.metricsHost,
    logLevel: config.logLevel,
    logFormat: config.logFormat,
  });
  const services = await buildWorkerServices(config, {
    meter: runtime.metricMeter,
    log: (level, message, fields) => runtime.logger.log(level === 'info' ? 'INFO' : level === 'warn' ? 'WARN' : 'ERROR', message, fields),
  });
  const deps = services.deps;
  try {
    const store = describeArtifactStore(config.artifacts);
    // A wrong key or a missing bucket fails here, with what to fix, not inside a task.
    await deps.artifacts.check().catch((err: unknown) => {
      throw new Error(`the artifact store ${store} cannot be used: ${err instanceof Error ? err.message : String(err)}`);
    });
    const connection = await NativeConnection.connect({ address: config.address });
    const clientConnection = await Connection.connect({ address: config.address });
    let sweeper: { stop(): Promise<void> } | undefined;
    try {
      const workers = await createConfiguredWorkers(connection, config, deps);
      const { info, warnings } = services.describe();
      for (const w of warnings) console.error(`ccflow worker: WARNING: ${w}`);
      console.error(
        `ccflow worker: polling ${config.taskQueue} and ${config.hostTaskQueue} on ${config.address} ` +
          `(sandbox: ${config.defaultProvider}${config.unsafeNoSandbox ? ', UNISOLATED' : ''}; ${info.join('; ')}; artifacts: ${store}` +
          `${config.metricsPort !== undefined ? `; metrics: http://${config.metricsHost}:${config.metricsPort}/metrics` : ''}` +
          `${config.live ? `; live events: ${config.live.subjectPrefix}.> on ${describeTarget({ server: config.live.natsUrl })}` : ''})`,
      );
      // This host's own bubblewrap sandboxes: after a crash or a lost-host failover, the worker
      // that comes back destroys what its tasks left here (E2B sandboxes are `ccflow sweep`'s).
      const local = deps.providers.local;
      if (local && config.sweepIntervalSeconds > 0) {
        sweeper = startSweeper({
          providers: [local],
          client: new Client({ connection: clientConnection, namespace: config.namespace }),
          artifacts: deps.artifacts,
          graceMs: config.sweepGraceSeconds * 1000,
          intervalMs: config.sweepIntervalSeconds * 1000,
          report: (decisions, err) => {
            if (err)
              console.error(`ccflow worker: sweeping orphaned sandboxes failed: ${err instanceof Error ? err.message : String(err)}`);
            for (const d of decisions.filter((x) => x.action === 'destroyed')) {
              console.error(
                `ccflow worker: swept sandbox ${d.sandboxId} of ${d.workflowId ?? '-'} (${d.reason}; ${d.archived ?? 0} file(s) saved)`,
              );
            }
          },
        });
      }
      await workers.run();
    } finally {
      await sweeper?.stop();
      await clientConnection.close();
      await connection.close();
    }
  } finally {
    await services.close();
  }
}
