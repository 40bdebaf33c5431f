import { z } from 'zod';
import { parseApprovalRule } from '../domain/approval-rules.js';

/**
 * The wire shapes of human approval: the TaskSpec's `approval` field, the `approve` Update's
 * input and result, a pending request as the status query shows it, and what crosses history
 * between the workflow and the agent run. Workflow code uses the inferred types only.
 */

export const ON_TIMEOUT = ['deny', 'fail'] as const;
export const APPROVAL_DECISIONS = ['allow', 'deny'] as const;
export const REMEMBER = ['once', 'session'] as const;

/** Longest reason a reviewer can give; it reaches the model as the tool's error. */
export const MAX_REASON_CHARS = 2_000;
/** A tool input is kept in history and shown to reviewers cut to this many characters. */
export const MAX_INPUT_PREVIEW_CHARS = 2_000;
/** The agent's last words before the call, as kept with the request. */
export const MAX_AGENT_TEXT_CHARS = 500;
/** The default grace period before a waiting task's sandbox is saved and destroyed. */
export const DEFAULT_KEEP_SANDBOX_SECONDS = 300;

const Rules = z
  .array(z.string())
  .min(1, 'list at least one rule, e.g. "Bash(git push:*)"')
  .max(100)
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((text, i) => {
      const parsed = parseApprovalRule(text);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', path: [i], message: parsed.error });
      else if (seen.has(text)) ctx.addIssue({ code: 'custom', path: [i], message: `rule ${JSON.stringify(text)}: is listed twice` });
      seen.add(text);
    });
  });

export const ApprovalSpec = z.strictObject({
  tools: Rules.describe(
    'Tool calls that wait for a human, in Claude Code permission-rule syntax: "Bash(git push:*)", "Write(src/**)", "WebFetch(domain:example.com)", "WebFetch". They hold for allowed tools too.',
  ),
  timeoutSeconds: z
    .number()
    .int()
    .positive()
    .max(365 * 24 * 3600)
    .optional()
    .describe('How long a request waits for an answer; forever when absent.'),
  onTimeout: z
    .enum(ON_TIMEOUT)
    .default('deny')
    .describe('What an unanswered request becomes: a denial the agent is told about, or a failed task.'),
  keepSandboxSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(DEFAULT_KEEP_SANDBOX_SECONDS)
    .describe('How long the sandbox is kept while a request waits; then it is saved and destroyed, and restored on the answer.'),
});
export type ApprovalSpecInput = z.input<typeof ApprovalSpec>;
export type ApprovalSpec = z.output<typeof ApprovalSpec>;

/** The `approve` Update's input. */
export const ApproveInput = z.strictObject({
  requestId: z.string().min(1).describe('The request being answered (`status` shows the pending one).'),
  decision: z.enum(APPROVAL_DECISIONS),
  reason: z.string().max(MAX_REASON_CHARS).optional().describe("Why; on deny the agent reads it as the tool's error."),
  remember: z
    .enum(REMEMBER)
    .default('once')
    .describe('"session": allow the rules this call matched for the rest of the task (allow only).'),
});
export type ApproveInput = z.input<typeof ApproveInput>;

/** What the `approve` Update returns at once (the agent goes on in the background). */
export const ApproveResult = z.object({
  workflowId: z.string(),
  requestId: z.string(),
  decision: z.enum(APPROVAL_DECISIONS),
  /** Rules allowed for the rest of the task from now on (remember: "session"). */
  rememberedRules: z.array(z.string()),
});
export type ApproveResult = z.infer<typeof ApproveResult>;

/** A tool call held for a human, as the status query shows it. Bounded: it lives in history. */
export const ApprovalRequest = z.object({
  requestId: z.string(),
  toolUseId: z.string(),
  toolName: z.string(),
  /** The call's input as JSON, cut to MAX_INPUT_PREVIEW_CHARS. */
  input: z.string(),
  /** sha256 of the full input: the answer applies to exactly this call. */
  inputSha256: z.string(),
  /** The task's rules this call matched (what `remember: "session"` would allow). */
  rules: z.array(z.string()),
  /** What the agent said last before the call. */
  agentText: z.string().optional(),
  /** Which turn of the task (1 = the task prompt, then follow-ups). */
  turn: z.number().int(),
  sessionId: z.string(),
  /** ms since epoch. */
  requestedAt: z.number(),
  /** When onTimeout applies (ms since epoch); absent when the request waits forever. */
  expiresAt: z.number().optional(),
  /** The sandbox was saved and destroyed while waiting; the answer restores it. */
  sandboxReleased: z.boolean().optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

export const ApprovalAnswer = z.object({
  requestId: z.string(),
  toolName: z.string(),
  decision: z.enum(APPROVAL_DECISIONS),
  reason: z.string().optional(),
  remember: z.enum(REMEMBER),
  /** `human` through the Update, `timeout` when onTimeout denied it. */
  by: z.enum(['human', 'timeout']),
  answeredAt: z.number(),
});
export type ApprovalAnswer = z.infer<typeof ApprovalAnswer>;

/** The approval part of a task's status. */
export const ApprovalStatus = z.object({
  pending: ApprovalRequest.optional(),
  /** The most recent answers, newest last. */
  answered: z.array(ApprovalAnswer),
  /** Requests raised so far (request ids are `req-<n>`). */
  requests: z.number().int(),
  /** Rules allowed for the rest of the task. */
  allowRules: z.array(z.string()),
  /** Time spent waiting for answers (ms); it does not count against timeouts.taskSeconds. */
  waitedMs: z.number(),
});
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

/** A human's answer as the agent run hands it to the in-sandbox hook. */
export const HookDecisionSchema = z.object({
  toolUseId: z.string(),
  decision: z.enum(APPROVAL_DECISIONS),
  reason: z.string().optional(),
  inputSha256: z.string(),
  /** `timeout`: nobody answered in time (approval.onTimeout "deny"); the agent is told so. */
  by: z.enum(['human', 'timeout']).optional(),
});

/** What an agent run needs to know about approvals. */
export const RunApproval = z.object({
  rules: z.array(z.string()),
  allowRules: z.array(z.string()),
  /** The answer for the call this run resumes, if it resumes one. */
  decision: HookDecisionSchema.optional(),
});
export type RunApproval = z.infer<typeof RunApproval>;

/** A run that ended holding a call for a human (bounded for history). */
export const DeferredCallSummary = z.object({
  toolUseId: z.string(),
  toolName: z.string(),
  input: z.string(),
  inputSha256: z.string(),
  rules: z.array(z.string()),
  agentText: z.string().optional(),
});
export type DeferredCallSummary = z.infer<typeof DeferredCallSummary>;

/** A task tells its pipeline when one of its calls starts or stops waiting for a human. */
export const StepWaiting = z.object({
  workflowId: z.string(),
  waiting: z.boolean(),
  requestId: z.string().optional(),
  toolName: z.string().optional(),
});
export type StepWaiting = z.infer<typeof StepWaiting>;
