import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { describeFailure, type FollowUpResult } from '../../client/index.js';
import { ToolError, noWorkerText } from './errors.js';
import type { ClientGateway } from './gateway.js';
import { DEFAULT_WAIT_SECONDS, ResultSchema, WaitSeconds, WorkflowId } from './task-tools.js';
import { ProgressReporter, addTool } from './tool-kit.js';
import { followUpView, taskView, type TaskView } from './views.js';
import { waitForTask } from './wait.js';

/**
 * follow_up: the next prompt in a task's Claude session, then a bounded wait for that turn.
 * A follow-up is never sent twice by this tool: once it is on its way, the answer says to
 * wait, not to resend.
 */

/** Runs `promise` for at most `ms`; undefined when the time ran out first (it keeps running). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerFollowUpTool(server: McpServer, gateway: ClientGateway): void {
  addTool(server, {
    name: 'follow_up',
    description:
      'Send the next prompt to a task, in the same Claude session: the agent remembers the conversation and finds its files. ' +
      'A task kept open (keepAliveSeconds) runs it in its sandbox; a finished one is continued in a new task from its saved session (the answer names the new workflowId: use that one from then on). ' +
      `Waits up to waitSeconds (default ${DEFAULT_WAIT_SECONDS}) for the turn's result, with progress notifications; if the turn is not done by then it keeps running: call wait_task. Send each follow-up once.`,
    input: z.strictObject({
      workflowId: WorkflowId,
      prompt: z.string().describe('What the agent should do next.'),
      resultSchema: ResultSchema.optional().describe("JSON Schema of this turn's result (default: the task's)."),
      waitSeconds: WaitSeconds,
    }),
    annotations: { title: 'Follow up on a task', readOnlyHint: false, destructiveHint: false, openWorldHint: true },
    run: async ({ workflowId, prompt, resultSchema, waitSeconds }, extra) => {
      const client = await gateway.client();
      const deadline = Date.now() + waitSeconds * 1000;
      const before = await client.status(workflowId); // TaskNotFoundError for an unknown id
      if (before.type === 'progress' && (await client.workers()).length === 0) {
        throw new ToolError(`task ${workflowId} cannot take a follow-up now: ${noWorkerText(gateway.where)}. Nothing was sent.`);
      }
      const input = { prompt, ...(resultSchema !== undefined ? { resultSchema } : {}) };
      const sending = client.startFollowUp(workflowId, input);
      sending.catch(() => undefined); // awaited below unless the time runs out first
      const started = await within(sending, Math.max(1_000, deadline - Date.now()));
      if (!started) {
        return {
          ...taskView(await client.status(workflowId)),
          warning: 'the follow-up was sent but the task has not accepted it yet; do not send it again.',
          next: `Call wait_task with workflowId "${workflowId}"; the follow-up runs once the task takes it.`,
        } satisfies TaskView;
      }
      const progress = new ProgressReporter(extra);
      if (started.kind === 'continued') {
        const outcome = await waitForTask(client, started.workflowId, {
          timeoutMs: Math.max(0, deadline - Date.now()),
          progress,
          signal: extra.signal,
        });
        return {
          ...taskView(outcome.event),
          continuedFrom: workflowId,
          warning: `task ${workflowId} had ended, so a new task ${started.workflowId} continues its saved session: use workflowId "${started.workflowId}" from now on.`,
        };
      }
      let done: { ok: true; value: FollowUpResult } | { ok: false; err: unknown } | undefined;
      const wake = started.result().then(
        (value) => {
          done = { ok: true, value };
        },
        (err: unknown) => {
          done = { ok: false, err };
        },
      );
      const outcome = await waitForTask(client, workflowId, {
        timeoutMs: Math.max(0, deadline - Date.now()),
        progress,
        signal: extra.signal,
        until: () => done !== undefined,
        wake,
      });
      const finished = done as typeof done; // assigned by the callbacks above while waiting
      if (finished?.ok) return followUpView(finished.value);
      if (finished) {
        throw new ToolError(
          `the follow-up to ${workflowId} failed: ${describeFailure(finished.err)}. get_task shows the task's state; follow_up again to retry.`,
        );
      }
      return taskView(outcome.event);
    },
  });
}
