import { z } from 'zod';
import { ApprovalSpec } from './approvals.js';
import { ChangeSummary, PushRecord, PushSpec, RepoRecord, RepoSpec } from './git.js';
import { parseAllowEntry, type EgressPolicy } from '../domain/network.js';
import { DEFAULT_MAX_HOST_RESTARTS } from '../domain/constants.js';

/**
 * The wire shapes of an agent task. These zod schemas are the single source of truth: the
 * TypeScript types are inferred from them, the CLI validates with them before starting a
 * workflow, and the workflow validates with them (through a local activity, so workflow code
 * stays zod-free) before it creates anything.
 */

export const PERMISSION_MODES = ['default', 'acceptEdits', 'bypassPermissions', 'dontAsk', 'plan', 'auto'] as const;
/**
 * How a turn hands back its result: `submit`, a JSON object the agent submits through the
 * result tool, validated against `resultSchema`; `text`, the agent's final message as
 * `{ "text": ... }` (a conversation, such as a NATS session; no result tool is offered).
 */
export const RESULT_MODES = ['submit', 'text'] as const;
/** How much of a final message a `text` result keeps (it travels in workflow history). */
export const MAX_TEXT_RESULT_CHARS = 16_000;
export const SANDBOX_PROVIDERS = ['local', 'e2b'] as const;

/** The result schema used when a task does not give one. */
export const DEFAULT_RESULT_SCHEMA = {
  type: 'object',
  properties: { summary: { type: 'string', description: 'What you did and what you found, in a few sentences.' } },
  required: ['summary'],
} as const;

/** A JSON Schema that describes an object: the only kind a tool's parameters can be. */
export const JsonSchemaObject = z
  .record(z.string(), z.unknown())
  .refine((s) => s.type === 'object', { message: 'must be a JSON Schema object with "type": "object"' })
  .refine(
    (s) => s.properties === undefined || (typeof s.properties === 'object' && s.properties !== null && !Array.isArray(s.properties)),
    {
      message: '"properties" must be an object mapping names to JSON Schemas',
    },
  );
export type JsonSchemaObject = z.infer<typeof JsonSchemaObject>;

export const SandboxSpec = z.strictObject({
  provider: z.enum(SANDBOX_PROVIDERS).optional().describe('Where the agent runs; the worker default when absent.'),
  timeoutSeconds: z
    .number()
    .int()
    .positive()
    .max(7 * 24 * 3600)
    .optional()
    .describe('Sandbox lifetime without renewal.'),
});

/** Workspace files: the keys must stay inside the workspace; the message names the bad key. */
const WorkspaceFiles = z.record(z.string(), z.string()).superRefine((files, ctx) => {
  for (const p of Object.keys(files)) {
    if (p === '' || p.startsWith('/') || p.split('/').includes('..')) {
      ctx.addIssue({
        code: 'custom',
        path: [p],
        message: 'must be a relative path inside the workspace (no leading "/" and no "..")',
      });
    }
  }
});

export const TaskTimeouts = z.strictObject({
  taskSeconds: z
    .number()
    .int()
    .positive()
    .default(24 * 3600)
    .describe('Wall-clock limit of the whole task; past it the task ends with TaskTimedOut.'),
  heartbeatSeconds: z
    .number()
    .int()
    .min(5)
    .default(60)
    .describe('How long an agent run may go without a heartbeat before Temporal retries it elsewhere.'),
  stallSeconds: z
    .number()
    .int()
    .positive()
    .default(600)
    .describe('No stream output for this long while no tool runs means the agent stalled: it is killed and retried.'),
});
export type TaskTimeouts = z.output<typeof TaskTimeouts>;

const POLICY_WORDS = ['none', 'model', 'open'] as const;

/**
 * What the agent may reach (see EgressPolicy): checked by hand rather than as a zod union, so
 * a mistake is reported at the entry that has it (`network.allow[2]: ...`), not as "invalid input".
 */
export const NetworkPolicy = z
  .unknown()
  .transform((v, ctx): EgressPolicy => {
    if (typeof v === 'string' && (POLICY_WORDS as readonly string[]).includes(v)) return v as (typeof POLICY_WORDS)[number];
    const isObject = typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObject || !Array.isArray((v as { allow?: unknown }).allow) || Object.keys(v).length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'must be "none", "model", "open" or {"allow": ["host", "*.domain", "host:port", ...]}' });
      return z.NEVER;
    }
    const allow = (v as { allow: unknown[] }).allow;
    if (allow.length === 0 || allow.length > 200) {
      ctx.addIssue({ code: 'custom', path: ['allow'], message: 'must list 1 to 200 hosts' });
      return z.NEVER;
    }
    allow.forEach((entry, i) => {
      try {
        if (typeof entry !== 'string') throw new Error('must be a string');
        parseAllowEntry(entry);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['allow', i], message: (err as Error).message });
      }
    });
    return { allow: allow as string[] };
  })
  .describe('What the agent can reach: "none", "model" (the default: only the model), {"allow": [hosts]} or "open" (any public host).');

/** Resource limits of the task's sandbox, within the worker's caps (local sandboxes; E2B sizes come from its template). */
export const SandboxLimitsSpec = z.strictObject({
  memoryMiB: z.number().int().min(64).optional().describe("Memory of all the sandbox's processes together (default 4096)."),
  processes: z.number().int().min(16).optional().describe('Processes and threads at once (default 512).'),
  cpus: z.number().positive().max(1024).optional().describe('Hard CPU cap in cores (default: none, an equal share).'),
  diskMiB: z.number().int().min(64).optional().describe('Disk for HOME, the workspace and /tmp together (default 10240).'),
});
export type SandboxLimitsSpec = z.infer<typeof SandboxLimitsSpec>;

/** An earlier task whose saved session (transcript + workspace) a new task starts from. */
export const ContinueFrom = z.strictObject({
  workflowId: z.string().min(1).describe('The earlier agentTask workflow whose saved session is restored.'),
  sessionId: z.string().min(1).optional().describe('Which of its sessions; the last one it saved when absent.'),
  workspaceOnly: z.boolean().default(false).describe('Restore the workspace files only and start a new session.'),
});
export type ContinueFrom = z.output<typeof ContinueFrom>;

/** The task spec's fields; `TaskSpec` adds the checks that span fields. */
const TaskSpecFields = z.strictObject({
  prompt: z
    .string()
    .trim()
    .min(1, 'must not be empty')
    .optional()
    .describe('What the agent should do. Without one the task opens its sandbox and waits: its first follow-up is its first turn.'),
  resultSchema: JsonSchemaObject.default(DEFAULT_RESULT_SCHEMA).describe('JSON Schema of the result the agent submits.'),
  model: z.string().min(1).optional(),
  allowedTools: z.array(z.string().min(1)).optional().describe('Tools the agent may use without asking.'),
  permissionMode: z.enum(PERMISSION_MODES).default('dontAsk'),
  maxTurns: z.number().int().positive().optional(),
  maxBudgetUsd: z.number().positive().optional(),
  appendSystemPrompt: z.string().optional(),
  files: WorkspaceFiles.optional().describe('Files seeded into the workspace: path → content.'),
  sandbox: SandboxSpec.optional(),
  timeouts: TaskTimeouts.prefault({}),
  resultRetries: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(2)
    .describe('How many corrective resumes to try when the agent submits no valid result.'),
  keepAliveSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(0)
    .describe('How long the task stays open for follow-ups after each result (0: it ends with its first result).'),
  continueFrom: ContinueFrom.optional().describe("Start from an earlier task's saved session and workspace."),
  resultMode: z.enum(RESULT_MODES).default('submit').describe('`submit`: a validated JSON result; `text`: the final message.'),
  repo: RepoSpec.optional().describe('A git repository the worker fetches and checks out as the workspace.'),
  push: PushSpec.optional().describe("Push the task's commits to this branch after each turn with a valid result."),
  approval: ApprovalSpec.optional().describe('Tool calls that wait for a human to allow or deny them (see README, Approvals).'),
  network: NetworkPolicy.optional(),
  limits: SandboxLimitsSpec.optional(),
  maxHostRestarts: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(DEFAULT_MAX_HOST_RESTARTS)
    .describe('How often the task moves to another host when the host of its bubblewrap sandbox is lost (HostLost).'),
});
export const TaskSpec = TaskSpecFields.superRefine((spec, ctx) => {
  if (spec.prompt === undefined && spec.keepAliveSeconds === 0) {
    ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'is required unless keepAliveSeconds keeps the task open for follow-ups' });
  }
  // A continued task works on the repository of the task it continues: naming another would
  // silently start a second history.
  if (spec.repo && spec.continueFrom) {
    ctx.addIssue({
      code: 'custom',
      path: ['repo'],
      message: "not allowed with continueFrom: the continued task's repository carries over",
    });
  }
  if (spec.push && !spec.repo && !spec.continueFrom) {
    ctx.addIssue({ code: 'custom', path: ['push'], message: 'needs repo: there is nothing to push without a repository' });
  }
});
/** What a user writes. */
export type TaskSpecInput = z.input<typeof TaskSpec>;
/** What the workflow works with, defaults applied. */
export type TaskSpec = z.output<typeof TaskSpec>;

/** One turn of a task (its first prompt, or one follow-up), as kept in its result and status. */
export const TurnSummary = z.object({
  turn: z.number().int().describe('1 for the task prompt, 2.. for follow-ups.'),
  prompt: z.string().describe('The prompt as given (cut after 2,000 characters).'),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.string().optional(),
  sessionId: z.string().optional(),
  sandboxId: z.string().optional(),
  numTurns: z.number().int(),
  costUsd: z.number(),
  durationMs: z.number(),
  restored: z.boolean().optional().describe('The session was restored into a new sandbox for this turn.'),
  changes: ChangeSummary.optional().describe("This turn's change to the repository (its own commit)."),
  push: PushRecord.optional().describe('Where the head commit was pushed after this turn.'),
});
export type TurnSummary = z.infer<typeof TurnSummary>;

export const TaskResult = z.object({
  workflowId: z.string(),
  result: z.record(z.string(), z.unknown()),
  sessionId: z.string(),
  numTurns: z.number().int(),
  totalCostUsd: z.number(),
  durationMs: z.number(),
  sandboxId: z.string(),
  resultAttempts: z.number().int().describe('Agent runs it took to get a valid result (1 = first try).'),
  artifactsDir: z.string().optional(),
  turns: z.array(TurnSummary).optional().describe('Every turn of the task: its first prompt, then each follow-up.'),
  continuedFrom: z.string().optional().describe('The task this one continued (continueFrom.workflowId).'),
  repo: RepoRecord.optional().describe('The repository the task worked on: where from, which base commit, which branch.'),
  changes: ChangeSummary.optional().describe('The whole change to the repository, base to head.'),
  push: PushRecord.optional().describe('Where the head commit was pushed.'),
  hostRestarts: z.number().int().optional().describe('How often the task moved to another host after losing one.'),
});
export type TaskResult = z.infer<typeof TaskResult>;
