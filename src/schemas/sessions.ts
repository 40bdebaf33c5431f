import { z } from 'zod';
import { SandboxRef } from './sandbox-ref.js';

/**
 * Inputs and outputs of the session-persistence activities (src/activities/sessions.ts):
 * small, no transcript or file content ever crosses workflow history.
 */

export const ProbedSandbox = z.object({ alive: z.boolean() });
export type ProbedSandbox = z.infer<typeof ProbedSandbox>;

export const SaveSessionInput = SandboxRef.extend({
  sessionId: z.string(),
  /** Which turn of the task this save follows (1 = the task prompt). */
  turn: z.number().int(),
  /**
   * What the session's runs reported in all so far: a resumed claude reports the session's
   * whole cost, so a task that continues this session counts only what it adds.
   */
  sessionCostUsd: z.number().optional(),
});
export type SaveSessionInput = z.infer<typeof SaveSessionInput>;

export const SavedSession = z.object({
  /** Where the task's artifacts are, for people. */
  location: z.string(),
  transcriptBytes: z.number().int(),
  /** null when the workspace could not be saved (see workspaceError). */
  workspaceBytes: z.number().int().nullable(),
  workspaceError: z.string().optional(),
});
export type SavedSession = z.infer<typeof SavedSession>;

export const RestoreSessionInput = SandboxRef.extend({
  /** The task (workflow id) whose saved session is restored. */
  fromWorkflowId: z.string(),
  /** Which session; the last one that task saved when absent. */
  sessionId: z.string().optional(),
  /** Restore the workspace only (a new session starts there). */
  workspaceOnly: z.boolean().optional(),
});
export type RestoreSessionInput = z.infer<typeof RestoreSessionInput>;

export const RestoredSession = z.object({
  sessionId: z.string(),
  /** The session's cost so far, as saved with it (when the saved session is the one restored). */
  sessionCostUsd: z.number().optional(),
  transcriptBytes: z.number().int(),
  workspaceBytes: z.number().int(),
});
export type RestoredSession = z.infer<typeof RestoredSession>;
