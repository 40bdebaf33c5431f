import path from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import {
  InvalidInputError,
  STATUS_QUERIES,
  readWorkspaceFiles,
  resolveRepoLocation,
  type CcflowClient,
  type TaskSpecInput,
} from '../../client/index.js';
import { ApprovalSpec } from '../../schemas/approvals.js';
import { PushSpec, RepoSpec } from '../../schemas/git.js';
import { compileResultSchema } from '../../schemas/result-schema.js';
import { ToolError, noWorkerText } from './errors.js';
import type { ClientGateway } from './gateway.js';
import { ProgressReporter, addTool } from './tool-kit.js';
import { lookAt } from './look.js';
import { taskView } from './views.js';
import { stuckWithoutWorker, waitForTask } from './wait.js';

/**
 * The task tools: start_task, get_task, wait_task, cancel_task, list_tasks (follow_up is in
 * follow-up-tool.ts). Their
 * descriptions are written for the model that calls them: start, then wait in bounded steps.
 */

const MAX_WAIT_SECONDS = 1_800;
export const DEFAULT_WAIT_SECONDS = 120;

export const WorkflowId = z.string().min(1).describe('The workflowId that start_task or run_pipeline returned.');
export const WaitSeconds = z
  .number()
  .int()
  .min(1)
  .max(MAX_WAIT_SECONDS)
  .default(DEFAULT_WAIT_SECONDS)
  .describe(`How long to wait at most, in seconds (default ${DEFAULT_WAIT_SECONDS}, at most ${MAX_WAIT_SECONDS}).`);
export const ResultSchema = z
  .record(z.string(), z.unknown())
  .describe(
    'JSON Schema ("type": "object") of the result the agent must submit; it is validated before you get it. Default: {"summary": string}.',
  );

const StartTaskInput = z.strictObject({
  prompt: z
    .string()
    .describe(
      'What the agent should do. It sees nothing of this conversation: say everything it needs, and what its result should contain.',
    ),
  resultSchema: ResultSchema.optional(),
  files: z.record(z.string(), z.string()).optional().describe('Files to put in its workspace: relative path → content.'),
  filesFrom: z
    .string()
    .optional()
    .describe(
      "A directory on the machine running this server whose files go into the workspace (relative to the server's working directory; .git and node_modules are skipped; 512 KB at most).",
    ),
  keepAliveSeconds: z
    .number()
    .optional()
    .describe(
      'Keep the task open this long after each result so follow_up runs in the same sandbox and session (default 0: it ends with its result).',
    ),
  maxTurns: z.number().optional().describe('Agent turn limit of each run.'),
  maxBudgetUsd: z.number().optional().describe('Spending limit of the task in USD.'),
  taskTimeoutSeconds: z.number().optional().describe('Wall-clock limit of the whole task (default 86400).'),
  model: z.string().optional().describe('Claude model for the agent (default: the CLI default).'),
  allowedTools: z.array(z.string()).optional().describe('Tools the agent may use (default: Bash, Read, Write, Edit, Glob, Grep, LS).'),
  repo: RepoSpec.optional().describe(
    "A git repository to work on instead of files: the worker fetches it (with its own credentials) and checks it out as the workspace; each turn becomes one commit, read with get_changes. A local path is relative to this server's working directory.",
  ),
  push: PushSpec.optional().describe(
    "Push the task's commits to this branch after each turn with a valid result (needs repo). A branch that holds other work is refused before the agent runs.",
  ),
  approval: ApprovalSpec.optional().describe(
    'Tool calls that wait for a human: the task holds each matching call (state "waiting-for-approval") until approve answers it. Use it for risky commands, e.g. {"tools": ["Bash(git push:*)", "Bash(rm:*)"]}.',
  ),
  workflowId: z.string().optional().describe('A workflow id of your choosing (default: task-<uuid>).'),
});

async function taskSpecOf(args: z.output<typeof StartTaskInput>): Promise<TaskSpecInput> {
  const { prompt, resultSchema, files, filesFrom, taskTimeoutSeconds, repo, workflowId: _id, ...rest } = args;
  if (resultSchema !== undefined) {
    try {
      compileResultSchema(resultSchema);
    } catch (err) {
      throw new InvalidInputError(`invalid task: ${(err as Error).message}`);
    }
  }
  const fromDir = filesFrom !== undefined ? await readWorkspaceFiles(path.resolve(filesFrom), 'filesFrom') : undefined;
  const spec: TaskSpecInput = { prompt, ...rest };
  if (resultSchema !== undefined) spec.resultSchema = resultSchema;
  if (fromDir || files) spec.files = { ...fromDir, ...files };
  if (taskTimeoutSeconds !== undefined) spec.timeouts = { taskSeconds: taskTimeoutSeconds };
  if (repo !== undefined) spec.repo = { ...repo, url: resolveRepoLocation(repo.url).url };
  return spec;
}

/** Refuses to start work no worker would pick up: the caller would wait on it for nothing. */
async function requireWorker(client: CcflowClient, gateway: ClientGateway): Promise<void> {
  if ((await client.workers()).length === 0) throw new ToolError(`${noWorkerText(gateway.where)}. Nothing was started.`);
}

export function registerTaskTools(server: McpServer, gateway: ClientGateway): void {
  addTool(server, {
    name: 'start_task',
    description:
      'Start a durable background coding task: Claude Code runs headless in a fresh sandbox on a ccflow worker and hands back a JSON result validated against resultSchema. ' +
      'Returns at once with its workflowId; the task runs whether or not anyone waits for it, and survives restarts. ' +
      'Then call wait_task with the workflowId (again while its state is "running"), or get_task for a quick look. ' +
      'Independent tasks run in parallel: start them all, then wait on each. ' +
      'The agent cannot see this conversation or your files: put what it needs in prompt and in files or filesFrom, or give it a git repo (get_changes then shows what it changed; push sends its commits to a branch). ' +
      'Set keepAliveSeconds to send follow_up prompts to the same session afterwards. ' +
      'Set approval rules to hold risky tool calls until they are approved (the approve tool).',
    input: StartTaskInput,
    annotations: { title: 'Start a background task', readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: async (args) => {
      const spec = await taskSpecOf(args);
      const client = await gateway.client();
      await requireWorker(client, gateway);
      const handle = await client.start(spec, args.workflowId !== undefined ? { workflowId: args.workflowId } : {});
      return {
        workflowId: handle.workflowId,
        state: 'running',
        next: `Started. Call wait_task with workflowId "${handle.workflowId}" to wait for its result (in steps of at most ${MAX_WAIT_SECONDS} s), or get_task for a quick look.`,
      };
    },
  });

  addTool(server, {
    name: 'get_task',
    description:
      'One quick look at a task or pipeline, without waiting: state, phase, agent turns, cost, the tool the agent is running, its latest text, the tool calls waiting for approval (pendingApprovals), and the result once there is one.',
    input: z.strictObject({ workflowId: WorkflowId }),
    annotations: { title: 'Look at a task', readOnlyHint: true, openWorldHint: false },
    run: async ({ workflowId }) => {
      const client = await gateway.client();
      const event = await client.status(workflowId);
      const view = await lookAt(client, event);
      if (await stuckWithoutWorker(client, event)) view.warning = `${noWorkerText(gateway.where)}; it starts once one does.`;
      return view;
    },
  });

  addTool(server, {
    name: 'wait_task',
    description:
      `Wait for a task or pipeline to finish its current turn, for at most timeoutSeconds (default ${DEFAULT_WAIT_SECONDS}), with progress notifications meanwhile. ` +
      'Returns as soon as it is done: state "succeeded" with the validated result, "open" with the latest turn\'s result for a task kept open for follow-ups, or how it failed. ' +
      'It also returns when a tool call waits for approval (state "waiting-for-approval", the call under pendingApprovals): answer it with approve, then wait again. ' +
      'If the time runs out first it returns the progress so far (state "running"): call wait_task again. It never blocks longer than you ask.',
    input: z.strictObject({ workflowId: WorkflowId, timeoutSeconds: WaitSeconds }),
    annotations: { title: 'Wait for a task', readOnlyHint: true, openWorldHint: false },
    run: async ({ workflowId, timeoutSeconds }, extra) => {
      const client = await gateway.client();
      const outcome = await waitForTask(client, workflowId, {
        timeoutMs: timeoutSeconds * 1000,
        progress: new ProgressReporter(extra),
        signal: extra.signal,
      });
      if (outcome.noWorker) {
        throw new ToolError(
          `task ${workflowId} has not started: ${noWorkerText(gateway.where)}. It starts as soon as a worker polls; call wait_task again then.`,
        );
      }
      return lookAt(client, outcome.event);
    },
  });

  addTool(server, {
    name: 'cancel_task',
    description:
      'Cancel a task or pipeline: its agent is stopped and its sandbox torn down; it ends as cancelled. ' +
      'With close: true, end an open task gracefully instead: its keep-alive window ends now, follow-ups already sent still run, and it ends as succeeded.',
    input: z.strictObject({
      workflowId: WorkflowId,
      close: z.boolean().default(false).describe('End an open task gracefully instead of cancelling it.'),
      waitSeconds: z.number().int().min(0).max(300).default(30).describe('How long to wait for it to end (default 30).'),
    }),
    annotations: {
      title: 'Cancel or close a task',
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: false,
    },
    run: async ({ workflowId, close, waitSeconds }, extra) => {
      const client = await gateway.client();
      const before = await client.status(workflowId);
      if (before.type !== 'progress') {
        return { ...taskView(before), next: `Task ${workflowId} had already ended (${taskView(before).state}); nothing to cancel.` };
      }
      if (close) await client.close(workflowId);
      else await client.cancel(workflowId);
      const outcome = await waitForTask(client, workflowId, {
        timeoutMs: waitSeconds * 1000,
        progress: new ProgressReporter(extra),
        signal: extra.signal,
        // An open task is settled already; here only its end counts.
        untilEnded: true,
      });
      const view = taskView(outcome.event);
      if (outcome.event.type === 'progress') {
        view.next = `${close ? 'Closing' : 'Cancellation'} requested; it is still winding down (its sandbox is being torn down). get_task shows when it has ended.`;
      }
      return view;
    },
  });

  addTool(server, {
    name: 'list_tasks',
    description: 'Recent ccflow tasks and pipelines, newest first: workflowId, type, status, agent turns, cost, duration.',
    input: z.strictObject({
      status: z
        .enum(Object.keys(STATUS_QUERIES) as [string, ...string[]])
        .optional()
        .describe('Only tasks in this state.'),
      limit: z.number().int().min(1).max(100).default(20).describe('How many (default 20).'),
      query: z.string().optional().describe("A Temporal visibility query ANDed with the rest, e.g. 'CcflowCostUsd > 1'."),
    }),
    annotations: { title: 'List tasks', readOnlyHint: true, openWorldHint: false },
    run: async ({ status, limit, query }) => {
      const client = await gateway.client();
      const tasks = await client.list({ limit, ...(status !== undefined ? { status } : {}), ...(query !== undefined ? { query } : {}) });
      return { tasks, next: tasks.length > 0 ? 'get_task or wait_task take any of these workflowIds.' : 'No tasks match.' };
    },
  });
}
