import type { Readable } from 'node:stream';
/**
 * The one seam between ccflow and the place an agent runs. Providers (local bubblewrap, E2B)
 * implement it; activities only ever see these types.
 *
 * Paths given to a Sandbox are paths as seen *inside* the sandbox (absolute, e.g.
 * `/home/user/workspace/notes.md`). Every provider lays a sandbox out the same way:
 * HOME and the agent's working tree are where layout.ts says.
 */

import type { ProviderName } from '../domain/constants.js';
import type { EgressPolicy } from '../domain/network.js';

export type { EgressPolicy, ProviderName };

/** Resource limits asked of a provider; what is left out takes the provider's defaults. */
export interface SandboxLimitsRequest {
  memoryBytes?: number;
  processes?: number;
  /** Hard CPU cap in cores. */
  cpus?: number;
  diskBytes?: number;
}

export type LimitName = 'memory' | 'processes' | 'disk';

/** A resource limit a sandbox ran into. */
export interface LimitHit {
  limit: LimitName;
  /**
   * How often it happened so far (OOM kills, refused forks; 1 for a full disk). Counters only
   * grow over a sandbox's life: a run compares them with what they were when it started.
   */
  count: number;
  /** What was seen, for the failure message (e.g. "the kernel killed 1 process out of memory (limit 4 GiB)"). */
  detail: string;
}

export interface SandboxCreateOpts {
  /** Labels that say who owns the sandbox (workflowId, taskId, owner); used by list(). */
  metadata: Record<string, string>;
  /** Files to seed into the workspace: path relative to the workspace → content. */
  files?: Record<string, string>;
  /**
   * How long the sandbox may live without being renewed.
   * @default 3600 // seconds
   */
  timeoutSeconds?: number;
  /**
   * What the sandbox's processes may reach.
   * @default 'model'
   */
  network?: EgressPolicy;
  limits?: SandboxLimitsRequest;
  /** The task the sandbox is for (proxy attribution and logs). */
  task?: { workflowId: string; namespace: string };
}

export interface SandboxInfo {
  sandboxId: string;
  provider: ProviderName;
  metadata: Record<string, string>;
  /** ms since epoch */
  createdAt: number;
}

export interface ExecDetachedOpts {
  /** @default SANDBOX_WORKDIR */
  cwd?: string;
  /**
   * The process environment, exactly: nothing of the worker's own environment leaks in
   * unless it is listed here. Secrets go here, at exec time, never into sandbox metadata.
   */
  env?: Record<string, string>;
  /** File (inside the sandbox) fed to the process on stdin; /dev/null when absent. */
  stdinPath?: string;
  /** Files (inside the sandbox) that receive stdout / stderr. */
  stdoutPath: string;
  stderrPath: string;
  /** File (inside the sandbox) that receives the decimal exit code once the process ends. */
  exitCodePath: string;
}

export interface ProcessHandle {
  /** Provider-specific process id; stable enough to reattach after a worker restart. */
  pid: number;
}

export type ProcessState = { state: 'running' } | { state: 'exited'; exitCode: number | null };

export interface Sandbox {
  readonly sandboxId: string;
  readonly provider: ProviderName;

  /**
   * Starts `command` (argv, no shell) detached from the caller: it keeps running if the
   * worker dies, and its output goes to files so nothing is lost while nobody reads.
   */
  execDetached(command: string[], opts: ExecDetachedOpts): Promise<ProcessHandle>;
  /** Whether a process started by execDetached is still running (exit code read from its file). */
  processState(pid: number, exitCodePath: string): Promise<ProcessState>;
  /**
   * Resolves when a process this worker started exits, so a follower wakes at once instead of
   * at its next poll. Undefined when the provider cannot tell (a process another worker
   * started, a remote sandbox): then processState polling is the only way.
   */
  exited?(pid: number): Promise<void> | undefined;
  /** Signals the whole process group started by execDetached. Quiet if it is already gone. */
  kill(pid: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;

  /** Reads a whole file, or undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Reads up to `maxBytes` starting at byte `offset`; empty when there is nothing new. */
  readFileFrom(path: string, offset: number, maxBytes: number): Promise<Buffer>;
  /**
   * Writes a file, creating parent directories. A Readable is streamed in (a restored
   * workspace tarball can be hundreds of MB), never held whole.
   */
  writeFile(path: string, content: string | Buffer | Readable): Promise<void>;
  /** A file's size in bytes, or undefined when it does not exist (to read agent files in bounds). */
  fileSize(path: string): Promise<number | undefined>;

  /** Resource limits the sandbox ran into so far; empty for providers that enforce none of their own. */
  limitHits(): Promise<LimitHit[]>;

  /** Extends the sandbox lifetime (a no-op for providers without one). */
  renew(timeoutSeconds: number): Promise<void>;
}

export interface SandboxProvider {
  readonly name: ProviderName;
  create(opts: SandboxCreateOpts): Promise<Sandbox>;
  /** Reattaches to an existing sandbox; throws SandboxNotFoundError when it is gone. */
  connect(sandboxId: string): Promise<Sandbox>;
  /** Kills every process and deletes the sandbox. Quiet when it is already gone. */
  destroy(sandboxId: string): Promise<void>;
  /** Lists live sandboxes, optionally only those whose metadata includes every given pair. */
  list(filter?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]>;
}
