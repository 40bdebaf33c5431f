import type { ArtifactStore } from '../artifacts/types.js';
import type { RunTiming } from '../claude/runner.js';
import type { ProviderName } from '../domain/constants.js';
import type { EgressPolicy, EgressPolicyKind } from '../domain/network.js';
import type { RunUsage } from '../proxy/state.js';
import type { SandboxProvider } from '../sandbox/types.js';
import type { LiveSink } from '../schemas/live-events.js';
import type { GitDeps } from './git.js';

/**
 * How sandboxes reach the model, and what the model proxy saw of a run. The worker implements
 * it with its proxies; the real credential stays there (unless the worker was configured to
 * pass it to E2B sandboxes, which it announces).
 */
export interface ModelAccess {
  /** The environment that points one agent run at its model: an endpoint and a token for this run. */
  runEnv(o: {
    provider: ProviderName;
    sandboxId: string;
    task: { workflowId: string; namespace: string };
    /** Names the run for metering (unique per attempt). */
    run: string;
    /** What the run may still spend; the proxy refuses requests past it. */
    budgetUsd?: number | undefined;
    network: EgressPolicy;
  }): Record<string, string>;
  /** Whether sandboxes of this provider hold the real model credential (E2B without a proxy URL). */
  keyInSandbox(provider: ProviderName): boolean;
  /** The proxy's record of a run; undefined when it never saw one (or the key was passed). */
  runUsage(sandboxId: string, run: string): Promise<RunUsage | undefined>;
  /** Refuses every token of a sandbox from now on (it is being torn down). */
  revoke(sandboxId: string): Promise<void>;
}

/** What a task may ask of its sandbox on this worker, and what it gets when it asks nothing. */
export interface SandboxPolicy {
  /** The most a task's `network` may allow (CCFLOW_NETWORK_MAX). */
  networkMax: EgressPolicyKind;
  /** Defaults and caps of `limits`, in the TaskSpec's units. */
  defaults: { memoryMiB: number; processes: number; diskMiB: number; cpus?: number | undefined };
  caps: { memoryMiB: number; processes: number; diskMiB: number; cpus?: number | undefined };
}

/** Everything activities need from the outside world, injected by the worker (or a test). */
export interface ActivityDeps {
  /** The providers this worker can use, by name; a missing one means "not configured here". */
  providers: Partial<Record<ProviderName, SandboxProvider>>;
  defaultProvider: ProviderName;
  /** Tokens and endpoints for agent runs (the model proxy), from the worker only. */
  model: ModelAccess;
  sandboxPolicy: SandboxPolicy;
  artifacts: ArtifactStore;
  /** The task queue only this worker's host listens on (for host-bound sandboxes). */
  hostTaskQueue: string;
  /**
   * How long an activity on one of this host's sandboxes may wait to be picked up before the
   * workflow takes the host for lost and moves the task to another host.
   * @default 60 // seconds (DEFAULT_HOST_START_TIMEOUT_SECONDS)
   */
  hostStartTimeoutSeconds?: number;
  timing?: Partial<RunTiming>;
  /**
   * Where runs publish what the agent does as it happens (token deltas, tool calls and results),
   * for front ends that relay it; absent: nothing is published and claude prints no deltas.
   */
  live?: LiveSink;
  /** git on this host, with the worker's credentials (tasks with a `repo`). */
  git: GitDeps;
  /**
   * Agents this worker runs at once (CCFLOW_MAX_CONCURRENT_AGENTS); more wait for a slot inside
   * their runClaude activity.
   * @default 8
   */
  maxConcurrentAgents?: number;
}

export const DEFAULT_MAX_CONCURRENT_AGENTS = 8;
