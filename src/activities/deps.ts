import type { ArtifactStore } from '../artifacts/types.js';
import type { ModelEndpoint } from '../claude/args.js';
import type { RunTiming } from '../claude/runner.js';
import type { ProviderName } from '../domain/constants.js';
import type { SandboxProvider } from '../sandbox/types.js';
import type { LiveSink } from '../schemas/live-events.js';
import type { GitDeps } from './git.js';

/** Everything activities need from the outside world, injected by the worker (or a test). */
export interface ActivityDeps {
  /** The providers this worker can use, by name; a missing one means "not configured here". */
  providers: Partial<Record<ProviderName, SandboxProvider>>;
  defaultProvider: ProviderName;
  /** The model endpoint and key, from the worker's environment only. */
  model: ModelEndpoint;
  artifacts: ArtifactStore;
  /** The task queue only this worker's host listens on (for host-bound sandboxes). */
  hostTaskQueue: string;
  timing?: Partial<RunTiming>;
  /**
   * Where runs publish what the agent does as it happens (token deltas, tool calls and results),
   * for front ends that relay it; absent: nothing is published and claude prints no deltas.
   */
  live?: LiveSink;
  /** git on this host, with the worker's credentials (tasks with a `repo`). */
  git: GitDeps;
}
