import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** Where the workflow code is: the .ts source under tsx (tests, dev), the .js build otherwise. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

/** Workflow interceptors bundled with the workflows (search attributes, details, summaries, metrics). */
export function workflowInterceptorModules(): string[] {
  const ts = fileURLToPath(new URL('../workflows/observability.ts', import.meta.url));
  return [existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/observability.js', import.meta.url))];
}

/**
 * Bundles the workflow code once (a few seconds), to share between workers. Replay tests must
 * use this bundle too: the interceptors add commands (search attribute upserts) to history.
 */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    workflowInterceptorModules: workflowInterceptorModules(),
    logger: quietBundlerLogger,
  });
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};
