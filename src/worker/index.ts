/**
 * The worker: the composition root that builds providers, the artifact store and the
 * activities from configuration, and runs them with the workflows on Temporal workers.
 */
export { bundleWorkflows, workflowInterceptorModules, workflowsPath } from './bundle.js';
export { loadWorkerConfig, localSandboxMounts, claudeBinaryPath, type WorkerConfig, type E2BConfig } from './config.js';
export { buildProviders } from './providers.js';
export { sweepOrphans, type SweepDecision, type SweepOptions } from './sweep.js';
export { installRuntime } from './telemetry.js';
export { buildActivityDeps, createConfiguredWorkers, createWorkers, runWorker, type CcflowWorkers } from './worker.js';
