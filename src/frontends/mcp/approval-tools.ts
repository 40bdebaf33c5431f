import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { APPROVAL_DECISIONS, MAX_REASON_CHARS } from '../../schemas/approvals.js';
import type { ClientGateway } from './gateway.js';
import { WorkflowId } from './task-tools.js';
import { addTool } from './tool-kit.js';
import { approvalView } from './views.js';

/**
 * approve: answers a call a task holds for a human (get_task and wait_task list them under
 * pendingApprovals, see look.ts), through CcflowClient.approve() as `ccflow approve` does.
 */

const ApproveToolInput = z.strictObject({
  workflowId: WorkflowId.describe('The task (or pipeline) whose call waits, as get_task or wait_task showed it under pendingApprovals.'),
  requestId: z
    .string()
    .min(1)
    .optional()
    .describe(
      'The waiting request (pendingApprovals[].requestId). Needed when several wait (a pipeline); guards against answering a newer one.',
    ),
  decision: z.enum(APPROVAL_DECISIONS).describe('"allow" runs the call as it is; "deny" refuses it and the agent reads the reason.'),
  reason: z
    .string()
    .max(MAX_REASON_CHARS)
    .optional()
    .describe("Why; on deny the agent reads it as the tool's error, so say what to do instead."),
  remember: z
    .boolean()
    .default(false)
    .describe('With allow: also allow later calls matching the same rules for the rest of this task, without asking again.'),
});

export function registerApprovalTool(server: McpServer, gateway: ClientGateway): void {
  addTool(server, {
    name: 'approve',
    description:
      'Answer a tool call that a task holds for human approval (its approval rules matched it): state "waiting-for-approval", the call under pendingApprovals of get_task or wait_task. ' +
      'The task waits durably, for as long as it takes, with no agent running. Allow runs the call exactly as shown; deny tells the agent why and it carries on without it. ' +
      'These calls were held because someone wanted a person to decide: unless the user told you what to allow, show them the call and ask first. ' +
      'Returns once the task has taken the answer; then call wait_task again.',
    input: ApproveToolInput,
    annotations: { title: 'Approve or deny a held tool call', readOnlyHint: false, destructiveHint: true, openWorldHint: true },
    run: async ({ workflowId, requestId, decision, reason, remember }) => {
      const client = await gateway.client();
      const { request, result } = await client.approve(workflowId, {
        decision,
        remember: remember && decision === 'allow' ? 'session' : 'once',
        ...(reason !== undefined ? { reason } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
      });
      return {
        workflowId: result.workflowId,
        requestId: result.requestId,
        decision: result.decision,
        call: approvalView(request),
        ...(result.rememberedRules.length > 0 ? { rememberedRules: result.rememberedRules } : {}),
        next: `${decision === 'allow' ? 'Allowed: the call runs' : 'Denied: the agent is told why'} and the task goes on. Call wait_task with workflowId "${workflowId}" for its result.`,
      };
    },
  });
}
