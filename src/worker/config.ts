import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { artifactStoreConfigFromEnv, type ArtifactStoreConfig } from '../artifacts/config.js';
import {
  DEFAULT_ADDRESS,
  DEFAULT_HOST_START_TIMEOUT_SECONDS,
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
import { POLICY_RANK, type EgressPolicyKind } from '../domain/network.js';
import { credentialFromEnv, type UpstreamCredential } from '../proxy/credentials.js';
import { parseSecret } from '../proxy/secret.js';
import type { LimitPreference } from '../sandbox/local/limits/detect.js';

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
  /** Where artifacts go: CCFLOW_ARTIFACTS=s3://bucket/prefix (shared by hosts), else CCFLOW_ARTIFACT_DIR. */
  artifacts: ArtifactStoreConfig;
  /** CCFLOW_HOST_START_TIMEOUT_SECONDS: how long this host may leave its sandboxes' activities waiting before it counts as lost. */
  hostStartTimeoutSeconds: number;
  /**
   * CCFLOW_SWEEP_INTERVAL_SECONDS: how often the worker destroys its own host's orphaned
   * sandboxes (at start too, so a host that comes back cleans up after itself); 0 turns it off.
   */
  sweepIntervalSeconds: number;
  /** CCFLOW_SWEEP_GRACE_SECONDS: sandboxes younger than this are never swept. */
  sweepGraceSeconds: number;
  /** Explicit opt-in to run agents without bubblewrap. */
  unsafeNoSandbox: boolean;
  /** The model API (ANTHROPIC_BASE_URL) and the credential only the worker holds. */
  model: { baseUrl?: string; credential?: UpstreamCredential };
  maxConcurrentAgents: number;
  /** Prometheus metrics port (CCFLOW_METRICS_PORT); no metrics endpoint when absent. */
  metricsPort?: number;
  /** CCFLOW_METRICS_HOST: where the metrics endpoint listens. @default '127.0.0.1' */
  metricsHost: string;
  security: SecurityConfig;
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

/** What keeps sandboxes in their box: the model proxy, egress, limits (see src/worker/security.ts). */
export interface SecurityConfig {
  /** Where the proxy keeps its secret, revocations and per-run usage (CCFLOW_HOME/proxy). */
  stateDir: string;
  /** CCFLOW_PROXY_SECRET: shared by workers behind one CCFLOW_MODEL_PROXY_URL. */
  secret?: Buffer;
  /** CCFLOW_MODEL_PROXY_URL: the model proxy as E2B sandboxes reach it (TLS in production). */
  modelProxyUrl?: string;
  /** CCFLOW_MODEL_PROXY_LISTEN (`host:port`): where the proxy listens on TCP. @default 127.0.0.1:0 */
  modelProxyListen?: { host: string; port: number };
  /** CCFLOW_E2B_PASS_MODEL_KEY=1: without a proxy URL, E2B sandboxes get the real credential. */
  e2bPassModelKey: boolean;
  /** CCFLOW_NETWORK_MAX: the most a task's `network` may allow. @default 'open' */
  networkMax: EgressPolicyKind;
  /** CCFLOW_SANDBOX_LIMITS: auto, cgroup2, cgroup1, rlimit or none. */
  limits: LimitPreference;
  /** CCFLOW_CGROUP_PARENT: a delegated cgroup to put sandbox groups under. */
  cgroupParent?: string;
  /** CCFLOW_SANDBOX_DISK: auto, loop or watchdog. */
  disk: 'auto' | 'loop' | 'watchdog';
  /** Defaults (CCFLOW_SANDBOX_MEMORY_MIB, _PROCESSES, _DISK_MIB, _CPUS) and caps (CCFLOW_SANDBOX_MAX_...). */
  defaults: { memoryMiB: number; processes: number; diskMiB: number; cpus?: number };
  caps: { memoryMiB: number; processes: number; diskMiB: number; cpus?: number };
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
  const security = loadSecurityConfig(env, home);
  if (e2bKey && security.modelProxyUrl === undefined && !security.e2bPassModelKey) {
    throw new Error(
      "E2B sandboxes reach the model through the worker's proxy: set CCFLOW_MODEL_PROXY_URL to a URL where E2B " +
        'sandboxes reach it (it listens on CCFLOW_MODEL_PROXY_LISTEN), or set CCFLOW_E2B_PASS_MODEL_KEY=1 to pass the ' +
        'model key into E2B sandboxes instead (they can then read it)',
    );
  }
  return {
    address: env.TEMPORAL_ADDRESS ?? DEFAULT_ADDRESS,
    namespace: env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE,
    taskQueue,
    hostTaskQueue: env.CCFLOW_HOST_TASK_QUEUE ?? hostTaskQueueName(taskQueue, os.hostname()),
    defaultProvider: provider,
    sandboxRoot: env.CCFLOW_SANDBOX_ROOT ?? path.join(home, 'sandboxes'),
    artifacts: artifactStoreConfigFromEnv(env, path.join(home, 'artifacts')),
    hostStartTimeoutSeconds: positiveInteger(
      env.CCFLOW_HOST_START_TIMEOUT_SECONDS,
      'CCFLOW_HOST_START_TIMEOUT_SECONDS',
      DEFAULT_HOST_START_TIMEOUT_SECONDS,
    ),
    sweepIntervalSeconds: positiveInteger(env.CCFLOW_SWEEP_INTERVAL_SECONDS, 'CCFLOW_SWEEP_INTERVAL_SECONDS', 600, { zero: true }),
    sweepGraceSeconds: positiveInteger(env.CCFLOW_SWEEP_GRACE_SECONDS, 'CCFLOW_SWEEP_GRACE_SECONDS', 900, { zero: true }),
    unsafeNoSandbox: env.CCFLOW_UNSAFE_NO_SANDBOX === '1',
    model: { baseUrl: env.ANTHROPIC_BASE_URL || undefined, credential: credentialFromEnv(env) },
    maxConcurrentAgents: maxAgents,
    ...(env.CCFLOW_METRICS_PORT ? { metricsPort: parsePort(env.CCFLOW_METRICS_PORT, 'CCFLOW_METRICS_PORT') } : {}),
    metricsHost: env.CCFLOW_METRICS_HOST || '127.0.0.1',
    security,
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

function loadSecurityConfig(env: NodeJS.ProcessEnv, home: string): SecurityConfig {
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer of at least ${min}, not "${raw}"`);
    return n;
  };
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!(n > 0)) throw new Error(`${name} must be a positive number, not "${raw}"`);
    return n;
  };
  const defaults = {
    memoryMiB: int('CCFLOW_SANDBOX_MEMORY_MIB', 4096, 64),
    processes: int('CCFLOW_SANDBOX_PROCESSES', 512, 16),
    diskMiB: int('CCFLOW_SANDBOX_DISK_MIB', 10_240, 64),
    ...(num('CCFLOW_SANDBOX_CPUS') !== undefined ? { cpus: num('CCFLOW_SANDBOX_CPUS') as number } : {}),
  };
  const caps = {
    memoryMiB: int('CCFLOW_SANDBOX_MAX_MEMORY_MIB', Math.max(16_384, defaults.memoryMiB), 64),
    processes: int('CCFLOW_SANDBOX_MAX_PROCESSES', Math.max(4096, defaults.processes), 16),
    diskMiB: int('CCFLOW_SANDBOX_MAX_DISK_MIB', Math.max(102_400, defaults.diskMiB), 64),
    ...(num('CCFLOW_SANDBOX_MAX_CPUS') !== undefined ? { cpus: num('CCFLOW_SANDBOX_MAX_CPUS') as number } : {}),
  };
  for (const k of ['memoryMiB', 'processes', 'diskMiB'] as const) {
    if (defaults[k] > caps[k]) throw new Error(`the sandbox default ${k} (${defaults[k]}) is over its cap (${caps[k]})`);
  }
  const listen = env.CCFLOW_MODEL_PROXY_LISTEN;
  let modelProxyListen: SecurityConfig['modelProxyListen'];
  if (listen) {
    const m = /^(.*):(\d+)$/.exec(listen);
    if (m === null) throw new Error(`CCFLOW_MODEL_PROXY_LISTEN must be host:port, not "${listen}"`);
    modelProxyListen = {
      host: (m[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: parsePort(m[2] ?? '', 'CCFLOW_MODEL_PROXY_LISTEN'),
    };
  }
  const modelProxyUrl = env.CCFLOW_MODEL_PROXY_URL || undefined;
  if (modelProxyUrl !== undefined && !/^https?:\/\//.test(modelProxyUrl)) {
    throw new Error(`CCFLOW_MODEL_PROXY_URL must be an http(s) URL, not "${modelProxyUrl}"`);
  }
  return {
    stateDir: path.join(home, 'proxy'),
    ...(env.CCFLOW_PROXY_SECRET ? { secret: parseSecret(env.CCFLOW_PROXY_SECRET) } : {}),
    ...(modelProxyUrl !== undefined ? { modelProxyUrl } : {}),
    ...(modelProxyListen !== undefined ? { modelProxyListen } : {}),
    e2bPassModelKey: env.CCFLOW_E2B_PASS_MODEL_KEY === '1',
    networkMax: oneOf(env.CCFLOW_NETWORK_MAX || 'open', Object.keys(POLICY_RANK) as EgressPolicyKind[], 'CCFLOW_NETWORK_MAX'),
    limits: oneOf(env.CCFLOW_SANDBOX_LIMITS || 'auto', ['auto', 'cgroup2', 'cgroup1', 'rlimit', 'none'] as const, 'CCFLOW_SANDBOX_LIMITS'),
    ...(env.CCFLOW_CGROUP_PARENT ? { cgroupParent: env.CCFLOW_CGROUP_PARENT } : {}),
    disk: oneOf(env.CCFLOW_SANDBOX_DISK || 'auto', ['auto', 'loop', 'watchdog'] as const, 'CCFLOW_SANDBOX_DISK'),
    defaults,
    caps,
  };
}

function positiveInteger(raw: string | undefined, name: string, fallback: number, o: { zero?: boolean } = {}): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < (o.zero ? 0 : 1))
    throw new Error(`${name} must be a ${o.zero ? 'non-negative' : 'positive'} integer (seconds), not "${raw}"`);
  return n;
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

/** The result server bundled into one file by the build (scripts/bundle-result-server.mjs). */
export function resultServerBundlePath(root: string = PACKAGE_ROOT): string {
  return path.join(root, 'dist', 'sandbox', 'result-server.mjs');
}

/** Host paths of what every local sandbox mounts read-only under /opt/ccflow. */
export function localSandboxMounts(root: string = PACKAGE_ROOT) {
  const resultServer = resultServerBundlePath(root);
  if (!existsSync(resultServer)) {
    throw new Error(`the bundled result server (${resultServer}) is missing; run \`npm run build\``);
  }
  return {
    claudeBinary: claudeBinaryPath(findNodeModules(root)),
    nodeBinary: process.execPath,
    resultServer,
    relay: path.join(root, 'sandbox-template', 'relay', 'relay.mjs'),
    approvalHook: path.join(root, 'sandbox-template', 'result-server', 'approval-hook.mjs'),
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
