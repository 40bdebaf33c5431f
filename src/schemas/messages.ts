import { z } from 'zod';
import { MAX_ATTACHMENT_BYTES } from '../domain/prompts.js';
import { ApprovalStatus } from './approvals.js';
import { ChangeSummary, PushRecord, RepoState } from './git.js';
import { JsonSchemaObject, TurnSummary } from './task-spec.js';

/**
 * What the workflows' messages carry: the `followUp` Update's input and result, and what the
 * `status` queries of agentTask and pipeline answer. The message definitions themselves are
 * in src/workflows/messages.ts, which uses these types (and only the types: workflow code is
 * zod-free).
 */

/** Longest follow-up prompt accepted; prompts travel in workflow history. */
export const MAX_FOLLOW_UP_PROMPT_CHARS = 200_000;

/** A file a follow-up brings: staged in the sandbox, its path announced at the top of the prompt. */
export const FollowUpAttachment = z.strictObject({
  filename: z.string().min(1, 'must be a non-empty string'),
  contentBase64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
});
export type FollowUpAttachment = z.infer<typeof FollowUpAttachment>;

export const FollowUpInput = z.strictObject({
  prompt: z.string().trim().min(1, 'must be a non-empty string').max(MAX_FOLLOW_UP_PROMPT_CHARS),
  /** The result format of this turn; the task's resultSchema when absent. */
  resultSchema: JsonSchemaObject.optional(),
  attachments: z
    .array(FollowUpAttachment)
    .refine((a) => a.reduce((n, f) => n + Math.floor((f.contentBase64.length * 3) / 4), 0) <= MAX_ATTACHMENT_BYTES, {
      message: `more than ${MAX_ATTACHMENT_BYTES / 1024} KB in all`,
    })
    .optional(),
});
export type FollowUpInput = z.infer<typeof FollowUpInput>;

/** What a follow-up returns: this turn's validated result and the task's running totals. */
export const FollowUpResult = z.object({
  workflowId: z.string(),
  turn: z.number().int(),
  result: z.record(z.string(), z.unknown()),
  sessionId: z.string(),
  sandboxId: z.string(),
  /** This turn's agent turns, cost and duration. */
  numTurns: z.number().int(),
  costUsd: z.number(),
  durationMs: z.number(),
  /** The whole task's, all turns so far. */
  totalNumTurns: z.number().int(),
  totalCostUsd: z.number(),
  /** The sandbox was gone: the session was restored into a new one for this turn. */
  restored: z.boolean(),
  /** This turn's change to the repository, when the task works on one. */
  changes: ChangeSummary.optional(),
  /** Where the head commit was pushed after this turn. */
  push: PushRecord.optional(),
});
export type FollowUpResult = z.infer<typeof FollowUpResult>;

export const TASK_PHASES = [
  'validating',
  'creating-sandbox',
  'running',
  'fetching-result',
  'correcting',
  'destroying-sandbox',
  'done',
  'failed',
  'restoring-session',
  'saving-session',
  'open',
  'following-up',
  'closing',
  'waiting-approval',
  'checking-out',
  'committing',
  'pushing',
] as const;
export const TaskPhase = z.enum(TASK_PHASES);
export type TaskPhase = z.infer<typeof TaskPhase>;

export const TaskRunRecord = z.object({
  runName: z.string(),
  sessionId: z.string(),
  numTurns: z.number().int(),
  costUsd: z.number(),
  subtype: z.string(),
});
export type TaskRunRecord = z.infer<typeof TaskRunRecord>;

/** The agentTask `status` query. */
export const TaskStatus = z.object({
  phase: TaskPhase,
  sandboxId: z.string().optional(),
  sessionId: z.string().optional(),
  /** The task's agent runs (the most recent ones on a task open for long). */
  runs: z.array(TaskRunRecord),
  numTurns: z.number().int(),
  totalCostUsd: z.number(),
  resultAttempts: z.number().int(),
  lastResultErrors: z.array(z.string()).optional(),
  /** How often the task started over because its sandbox was lost. */
  sandboxRestarts: z.number().int().optional(),
  /** Every turn: the task prompt, then each follow-up (queued ones included). */
  turns: z.array(TurnSummary),
  /** While the task waits for follow-ups: when it closes unless one arrives (ms since epoch). */
  openUntil: z.number().optional(),
  /** The task this one continues (continueFrom). */
  continuedFrom: z.string().optional(),
  /** Why the last session save failed, if it did (a later restore would then fail). */
  sessionSaveError: z.string().optional(),
  /** What each session's runs reported in all (claude reports a resumed session's whole cost). */
  sessionCosts: z.record(z.string(), z.number()).optional(),
  /** Tool calls held for a human (tasks with `approval` rules). */
  approval: ApprovalStatus.optional(),
  /** The repository the task works on, its head commit and its change so far. */
  repo: RepoState.optional(),
  /** The last session saved whole (transcript and workspace): where a task resumes after losing its host. */
  savedSession: z.object({ sessionId: z.string(), turn: z.number().int() }).optional(),
  /** How often the task moved to another host after losing one (HostLost). */
  hostRestarts: z.number().int().optional(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

export const STEP_STATES = ['pending', 'running', 'waiting', 'done', 'failed', 'skipped', 'cancelled'] as const;
export const StepState = z.enum(STEP_STATES);
export type StepState = z.infer<typeof StepState>;

export const PipelineStepStatus = z.object({
  name: z.string(),
  state: StepState,
  dependsOn: z.array(z.string()),
  /** The step's agentTask workflow, once started. */
  workflowId: z.string().optional(),
  /** Why it was skipped (its condition, a failed dependency, the pipeline stopping). */
  reason: z.string().optional(),
  error: z.string().optional(),
  result: z.record(z.string(), z.unknown()).optional(),
  sessionId: z.string().optional(),
  numTurns: z.number().int(),
  costUsd: z.number(),
  durationMs: z.number(),
  /** While the step waits for a human: the request to answer (`ccflow approve <workflowId>`). */
  approval: z.object({ requestId: z.string(), toolName: z.string() }).optional(),
  /** The step's whole change to the repository (base to its head). */
  changes: ChangeSummary.optional(),
  push: PushRecord.optional(),
});
export type PipelineStepStatus = z.infer<typeof PipelineStepStatus>;

/** The pipeline `status` query. */
export const PipelineStatus = z.object({
  workflowId: z.string(),
  name: z.string().optional(),
  phase: z.enum(['validating', 'running', 'stopping', 'done', 'failed', 'cancelled']),
  /** In spec order. */
  steps: z.array(PipelineStepStatus),
  numTurns: z.number().int(),
  totalCostUsd: z.number(),
});
export type PipelineStatus = z.infer<typeof PipelineStatus>;

export const PipelineResult = z.object({
  workflowId: z.string(),
  name: z.string().optional(),
  /** No step failed. */
  ok: z.boolean(),
  /** Every step by name, in spec order. */
  steps: z.record(z.string(), PipelineStepStatus),
  failed: z.array(z.string()),
  skipped: z.array(z.string()),
  numTurns: z.number().int(),
  totalCostUsd: z.number(),
  durationMs: z.number(),
  /** The final change: that of the last step, in spec order, that recorded one. */
  changes: ChangeSummary.optional(),
  /** Which step `changes` is from (`ccflow diff <pipeline id>.<step>` shows it). */
  changesStep: z.string().optional(),
});
export type PipelineResult = z.infer<typeof PipelineResult>;
