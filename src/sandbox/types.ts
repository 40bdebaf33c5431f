/**
 * The one seam between ccflow and the place an agent runs. Providers (local bubblewrap, E2B)
 * implement it; activities only ever see these types.
 *
 * Paths given to a Sandbox are paths as seen *inside* the sandbox (absolute, e.g.
 * `/home/user/workspace/notes.md`). Every provider lays a sandbox out the same way:
 * HOME and the agent's working tree are where layout.ts says.
 */

import type { ProviderName } from '../domain/constants.js';

export type { ProviderName };

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
  /** Signals the whole process group started by execDetached. Quiet if it is already gone. */
  kill(pid: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;

  /** Reads a whole file, or undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Reads up to `maxBytes` starting at byte `offset`; empty when there is nothing new. */
  readFileFrom(path: string, offset: number, maxBytes: number): Promise<Buffer>;
  /** Writes a file, creating parent directories. */
  writeFile(path: string, content: string | Buffer): Promise<void>;

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
