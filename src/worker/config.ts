import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import {
  DEFAULT_ADDRESS,
  DEFAULT_E2B_TEMPLATE,
  DEFAULT_NAMESPACE,
  DEFAULT_TASK_QUEUE,
  PROVIDER_NAMES,
  hostTaskQueueName,
  isProviderName,
  type ProviderName,
} from '../domain/constants.js';
import { PACKAGE_ROOT, ccflowHome } from '../home.js';
import { DEFAULT_LIVE_SUBJECT_PREFIX } from '../schemas/live-events.js';
import { loadGitConfig, type GitConfig } from './git-config.js';

/**
 * Everything ccflow reads from its environment, read in one place. Only the worker and the
 * CLI call this; activities get what they need injected.
 */

export interface WorkerConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  hostTaskQueue: string;
  defaultProvider: ProviderName;
  sandboxRoot: string;
  artifactDir: string;
  /** Explicit opt-in to run agents without bubblewrap. */
  unsafeNoSandbox: boolean;
  model: { baseUrl?: string; apiKey?: string };
  maxConcurrentAgents: number;
  /** Prometheus metrics port (CCFLOW_METRICS_PORT); no metrics endpoint when absent. */
  metricsPort?: number;
  /** CCFLOW_LOG_LEVEL (default INFO) and CCFLOW_LOG_FORMAT (`json`, the default, or `text`). */
  logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  logFormat: 'json' | 'text';
  /** E2B sandboxes; absent when E2B_API_KEY is not set (tasks asking for e2b then fail at once). */
  e2b?: E2BConfig;
  /** git on this host: the worker's own credentials and limits (see git-config.ts). */
  git: GitConfig;
  /** Live events on NATS (CCFLOW_NATS_URL), for front ends that relay them; none when absent. */
  live?: LiveConfig;
}

export interface LiveConfig {
  /** CCFLOW_NATS_URL: one or more comma-separated server URLs. */
  natsUrl: string;
  /** CCFLOW_NATS_CREDS: a `.creds` file to authenticate with. */
  natsCreds?: string;
  /** CCFLOW_LIVE_SUBJECT_PREFIX; events of a task go to `<prefix>.<task>`. @default 'ccflow.live' */
  subjectPrefix: string;
}

export interface E2BConfig {
  apiKey: string;
  /** Template sandboxes are created from (CCFLOW_E2B_TEMPLATE, built by `npm run template:build`). */
  template: string;
  /** E2B_API_URL / E2B_SANDBOX_URL / E2B_DOMAIN: another control plane and envd (tests, self-hosting). */
  apiUrl?: string;
  sandboxUrl?: string;
  domain?: string;
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const home = ccflowHome(env);
  const provider = env.CCFLOW_SANDBOX ?? 'local';
  if (!isProviderName(provider)) {
    throw new Error(`CCFLOW_SANDBOX must be one of ${PROVIDER_NAMES.join(', ')}, not "${provider}"`);
  }
  const maxAgents = Number(env.CCFLOW_MAX_CONCURRENT_AGENTS ?? '8');
  if (!Number.isInteger(maxAgents) || maxAgents < 1) {
    throw new Error(`CCFLOW_MAX_CONCURRENT_AGENTS must be a positive integer, not "${env.CCFLOW_MAX_CONCURRENT_AGENTS}"`);
  }
  const e2bKey = env.E2B_API_KEY || undefined;
  if (provider === 'e2b' && !e2bKey) {
    throw new Error('CCFLOW_SANDBOX=e2b needs E2B_API_KEY (https://e2b.dev/dashboard?tab=keys)');
  }
  const taskQueue = env.CCFLOW_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
  return {
    address: env.TEMPORAL_ADDRESS ?? DEFAULT_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    taskQueue,
    hostTaskQueue: env.CCFLOW_HOST_TASK_QUEUE ?? hostTaskQueueName(taskQueue, os.hostname()),
    defaultProvider: provider,
    sandboxRoot: env.CCFLOW_SANDBOX_ROOT ?? path.join(home, 'sandboxes'),
    artifactDir: env.CCFLOW_ARTIFACT_DIR ?? path.join(home, 'artifacts'),
    unsafeNoSandbox: env.CCFLOW_UNSAFE_NO_SANDBOX === '1',
    model: { baseUrl: env.ANTHROPIC_BASE_URL || undefined, apiKey: env.ANTHROPIC_API_KEY || undefined },
    maxConcurrentAgents: maxAgents,
    ...(env.CCFLOW_METRICS_PORT ? { metricsPort: parsePort(env.CCFLOW_METRICS_PORT, 'CCFLOW_METRICS_PORT') } : {}),
    logLevel: oneOf(
      env.CCFLOW_LOG_LEVEL?.toUpperCase() ?? 'INFO',
      ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const,
      'CCFLOW_LOG_LEVEL',
    ),
    logFormat: oneOf(env.CCFLOW_LOG_FORMAT ?? 'json', ['json', 'text'] as const, 'CCFLOW_LOG_FORMAT'),
    git: loadGitConfig(env),
    e2b: e2bKey
      ? {
          apiKey: e2bKey,
          template: env.CCFLOW_E2B_TEMPLATE || DEFAULT_E2B_TEMPLATE,
          apiUrl: env.E2B_API_URL || undefined,
          sandboxUrl: env.E2B_SANDBOX_URL || undefined,
          domain: env.E2B_DOMAIN || undefined,
        }
      : undefined,
    ...(env.CCFLOW_NATS_URL
      ? {
          live: {
            natsUrl: env.CCFLOW_NATS_URL,
            ...(env.CCFLOW_NATS_CREDS ? { natsCreds: env.CCFLOW_NATS_CREDS } : {}),
            subjectPrefix: env.CCFLOW_LIVE_SUBJECT_PREFIX || DEFAULT_LIVE_SUBJECT_PREFIX,
          },
        }
      : {}),
  };
}

function parsePort(raw: string, name: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new Error(`${name} must be a port number, not "${raw}"`);
  return n;
}

function oneOf<const T extends string>(raw: string, allowed: readonly T[], name: string): T {
  const found = allowed.find((a) => a === raw);
  if (!found) throw new Error(`${name} must be one of ${allowed.join(', ')}, not "${raw}"`);
  return found;
}

/** Host paths of what every local sandbox mounts read-only under /opt/ccflow. */
export function localSandboxMounts(root: string = PACKAGE_ROOT) {
  const nodeModulesDir = findNodeModules(root);
  return {
    claudeBinary: claudeBinaryPath(nodeModulesDir),
    nodeBinary: process.execPath,
    resultServerDir: path.join(root, 'sandbox-template', 'result-server'),
    nodeModulesDir,
  };
}

/** The pinned claude CLI: the native binary of @anthropic-ai/claude-code's platform package. */
export function claudeBinaryPath(nodeModulesDir: string = findNodeModules(PACKAGE_ROOT)): string {
  const platform = `${process.platform}-${process.arch}`;
  const candidates = [
    path.join(nodeModulesDir, '@anthropic-ai', `claude-code-${platform}`, 'claude'),
    path.join(nodeModulesDir, '@anthropic-ai', `claude-code-${platform}-musl`, 'claude'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`the claude CLI binary for ${platform} was not found (looked for ${candidates.join(', ')}); run \`npm install\``);
  }
  return found;
}

function findNodeModules(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules');
    if (existsSync(path.join(candidate, '@anthropic-ai'))) return candidate;
    if (path.dirname(dir) === dir) return path.join(start, 'node_modules');
  }
}
