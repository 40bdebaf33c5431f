import type { ProviderName } from '../sandbox/types.js';

/**
 * Inputs and outputs of the session-persistence activities (see src/activities/sessions.ts):
 * small, no transcript or file content ever crosses workflow history.
 */

export interface ProbeSandboxInput {
  sandboxId: string;
  provider: ProviderName;
}

export interface ProbedSandbox {
  alive: boolean;
}

export interface ClearResultInput {
  sandboxId: string;
  provider: ProviderName;
}

export interface SaveSessionInput {
  sandboxId: string;
  provider: ProviderName;
  sessionId: string;
  /** Which turn of the task this save follows (1 = the task prompt). */
  turn: number;
}

export interface SavedSession {
  /** Where the task's artifacts are, for people. */
  location: string;
  transcriptBytes: number;
  /** null when the workspace could not be saved (see workspaceError). */
  workspaceBytes: number | null;
  workspaceError?: string;
}

export interface RestoreSessionInput {
  sandboxId: string;
  provider: ProviderName;
  /** The task (workflow id) whose saved session is restored. */
  fromWorkflowId: string;
  /** Which session; the last one that task saved when absent. */
  sessionId?: string;
  /** Restore the workspace only (a new session starts there). */
  workspaceOnly?: boolean;
}

export interface RestoredSession {
  sessionId: string;
  transcriptBytes: number;
  workspaceBytes: number;
}
