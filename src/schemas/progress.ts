import { z } from 'zod';
import { ApprovalRequest } from './approvals.js';

/**
 * A task's progress as `ccflow watch --json` prints it and the client's watch() yields it:
 * snapshots while the task runs, then its result or its failure. Read from Temporal (the
 * workflow's status query and the agent activity's heartbeat details).
 */

/** The agent activity in flight, from the workflow's pending activities. */
export const PendingActivity = z.object({
  type: z.string(),
  /** 1 on the first try; more means Temporal is retrying it. */
  attempt: z.number().int(),
  /** Why the previous attempt failed, when it is a retry. */
  lastFailure: z.string().optional(),
  /** For the agent activity: which run of the task (`run-1`, `run-2` for a corrective resume). */
  run: z.string().optional(),
});
export type PendingActivity = z.infer<typeof PendingActivity>;

export const ProgressSnapshot = z.object({
  type: z.literal('progress'),
  workflowId: z.string(),
  /** When this was observed (epoch ms). */
  at: z.number(),
  elapsedMs: z.number(),
  /** The workflow's phase (`creating-sandbox`, `running`, `fetching-result`, ...). */
  phase: z.string(),
  /** Turns and cost so far: finished runs plus the run in flight. */
  turns: z.number().int(),
  costUsd: z.number(),
  /** Agent runs finished so far, and result attempts (more than 1 = corrective resumes). */
  runs: z.number().int(),
  resultAttempts: z.number().int(),
  sandboxId: z.string().optional(),
  sessionId: z.string().optional(),
  activity: PendingActivity.optional(),
  /** The agent's last tool call, e.g. `Bash: npm test`, and whether a tool is running now. */
  tool: z.string().optional(),
  toolRunning: z.boolean(),
  /** The agent's latest text. */
  text: z.string().optional(),
  lastResultErrors: z.array(z.string()).optional(),
  /** A pipeline's steps and their states. */
  steps: z.array(z.object({ name: z.string(), state: z.string() })).optional(),
  /** The tool call waiting for a human, while one does. */
  approval: ApprovalRequest.optional(),
});
export type ProgressSnapshot = z.infer<typeof ProgressSnapshot>;

export const ProgressResult = z.object({
  type: z.literal('result'),
  workflowId: z.string(),
  at: z.number(),
  elapsedMs: z.number(),
  /** What the workflow returned: a TaskResult for agentTask (see `taskResultOf`), as returned. */
  result: z.record(z.string(), z.unknown()),
});
export type ProgressResult = z.infer<typeof ProgressResult>;

export const END_STATES = ['failed', 'cancelled', 'terminated', 'timed-out'] as const;

export const ProgressFailure = z.object({
  type: z.literal('failure'),
  workflowId: z.string(),
  at: z.number(),
  elapsedMs: z.number(),
  status: z.enum(END_STATES),
  failureType: z.string().optional(),
  message: z.string(),
  artifactsDir: z.string().optional(),
});
export type ProgressFailure = z.infer<typeof ProgressFailure>;

export const ProgressEvent = z.discriminatedUnion('type', [ProgressSnapshot, ProgressResult, ProgressFailure]);
export type ProgressEvent = z.infer<typeof ProgressEvent>;

/** What changed between two snapshots that is worth a `--json` line (not the clock). */
export function sameProgress(a: ProgressSnapshot | undefined, b: ProgressSnapshot): boolean {
  if (!a) return false;
  const strip = ({ at: _at, elapsedMs: _e, ...rest }: ProgressSnapshot) => JSON.stringify(rest);
  return strip(a) === strip(b);
}
