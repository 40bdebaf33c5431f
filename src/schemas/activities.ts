import { z } from 'zod';
import { ProviderNameSchema, SandboxRef } from './sandbox-ref.js';
import { DeferredCallSummary, RunApproval } from './approvals.js';
import { NetworkPolicy, SandboxLimitsSpec } from './task-spec.js';

/**
 * Inputs and outputs of the activities: what crosses workflow history. Small by design: no
 * transcript, tool output or secret ever appears here. Workflows use the inferred types only
 * (`import type`); the schemas document the wire shape and let tests and tools check it.
 */

export { ProviderNameSchema, SandboxRef } from './sandbox-ref.js';

export const CreateSandboxInput = z.object({
  provider: ProviderNameSchema.optional(),
  timeoutSeconds: z.number().int().positive().optional(),
  files: z.record(z.string(), z.string()).optional(),
  /** The task's network policy (`model` when absent) and limits (the worker's defaults when absent). */
  network: NetworkPolicy.optional(),
  limits: SandboxLimitsSpec.optional(),
});
export type CreateSandboxInput = z.infer<typeof CreateSandboxInput>;

export const CreatedSandbox = SandboxRef.extend({
  /** Task queue for every later activity on this sandbox (a host queue for local sandboxes). */
  taskQueue: z.string(),
  /** The sandbox holds the real model credential (E2B without a proxy URL): the task is marked. */
  modelKeyInSandbox: z.boolean().optional(),
  /**
   * Host-bound sandboxes only: how long an activity on the host queue may wait to be picked up
   * before the host counts as lost (the host's own setting).
   */
  hostStartSeconds: z.number().int().positive().optional(),
});
export type CreatedSandbox = z.infer<typeof CreatedSandbox>;

export const RunClaudeInput = SandboxRef.extend({
  /** Names this run's directory in the sandbox (`run-1`, `run-2`, ...). */
  runName: z.string(),
  prompt: z.string(),
  resultSchema: z.record(z.string(), z.unknown()),
  permissionMode: z.string(),
  allowedTools: z.array(z.string()).optional(),
  model: z.string().optional(),
  maxTurns: z.number().int().optional(),
  maxBudgetUsd: z.number().optional(),
  appendSystemPrompt: z.string().optional(),
  resumeSessionId: z.string().optional(),
  newSessionId: z.string().optional(),
  /** Watchdog: no stream output for this long while no tool runs means a stall. */
  stallSeconds: z.number().optional(),
  /** `text`: no result tool; the final message is the result (`submit` when absent). */
  resultMode: z.enum(['submit', 'text']).optional(),
  /** Which turn this run serves, named in the live events it publishes (schemas/live-events.ts). */
  liveKey: z.string().optional(),
  /**
   * What the resumed session's runs reported so far. claude reports a resumed session's whole
   * cost as `total_cost_usd` (2.1.330), so the run's own cost is the difference.
   */
  sessionCostUsd: z.number().optional(),
  /** The task's approval rules, the rules allowed for the session, and the answer this run resumes with. */
  approval: RunApproval.optional(),
  /** The task's network policy (`model` when absent): it decides what the run's environment points at. */
  network: NetworkPolicy.optional(),
});
export type RunClaudeInput = z.infer<typeof RunClaudeInput>;

/** Tokens one agent process used, from its `result` line. */
export const TokenUsage = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheCreationTokens: z.number(),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

export const RunClaudeOutput = z.object({
  sessionId: z.string(),
  numTurns: z.number(),
  /** This run's own cost. */
  costUsd: z.number(),
  /** The session's cost so far as claude reported it (this run included). */
  sessionCostUsd: z.number().optional(),
  usage: TokenUsage.optional(),
  subtype: z.string(),
  resultText: z.string().optional(),
  durationMs: z.number(),
  reattached: z.boolean(),
  garbageLines: z.number(),
  runDir: z.string(),
  /** The run ended holding this call for a human (`stop_reason: "tool_deferred"`). */
  deferred: DeferredCallSummary.optional(),
  /** What the model proxy saw of the run (absent when the key was passed). */
  metered: z
    .object({
      requests: z.number().int(),
      costUsd: z.number(),
      rateLimited: z.number().int(),
      overloaded: z.number().int(),
      /** The last `retry-after` upstream sent, in seconds. */
      lastRetryAfterSeconds: z.number().optional(),
    })
    .optional(),
});
export type RunClaudeOutput = z.infer<typeof RunClaudeOutput>;

export const FetchResultInput = SandboxRef.extend({
  resultSchema: z.record(z.string(), z.unknown()),
});
export type FetchResultInput = z.infer<typeof FetchResultInput>;

export const FetchedResult = z.discriminatedUnion('status', [
  z.object({ status: z.literal('valid'), result: z.record(z.string(), z.unknown()) }),
  z.object({ status: z.literal('missing'), lastAttempt: z.unknown().optional() }),
  z.object({ status: z.literal('invalid'), errors: z.array(z.string()), lastAttempt: z.unknown().optional() }),
]);
export type FetchedResult = z.infer<typeof FetchedResult>;

export const DestroySandboxInput = SandboxRef.extend({
  /** The agent runs made in this sandbox, whose transcripts are archived first. */
  runNames: z.array(z.string()),
});
export type DestroySandboxInput = z.infer<typeof DestroySandboxInput>;

export const DestroyedSandbox = z.object({
  artifactsDir: z.string(),
  artifactsSaved: z.number().int(),
});
export type DestroyedSandbox = z.infer<typeof DestroyedSandbox>;

export const StageAttachmentsInput = SandboxRef.extend({
  /** The turn they come with; each turn's files get a directory of their own. */
  turn: z.number().int().positive(),
  files: z.array(z.object({ filename: z.string(), contentBase64: z.string() })),
});
export type StageAttachmentsInput = z.infer<typeof StageAttachmentsInput>;
export const StagedAttachments = z.object({ paths: z.array(z.string()) });
export type StagedAttachments = z.infer<typeof StagedAttachments>;
