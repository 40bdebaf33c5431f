import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerApprovalTool } from './approval-tools.js';
import { registerChangesTool } from './changes-tool.js';
import { registerFollowUpTool } from './follow-up-tool.js';
import type { ClientGateway } from './gateway.js';
import { registerPipelineTools } from './pipeline-tools.js';
import { registerResources } from './resources.js';
import { registerTaskTools } from './task-tools.js';

/** What the server tells a client (and its model) about itself when it connects. */
export const INSTRUCTIONS = `ccflow runs Claude Code tasks as durable background jobs: each in its own sandbox, on workers that survive restarts, each returning a JSON result validated against the schema you give.
How to use it well:
- start_task for each independent job (they run in parallel); it returns a workflowId at once.
- wait_task on a workflowId waits in bounded steps (timeoutSeconds) and sends progress; call it again while the state is "running". Never wait in an unbounded loop without telling the user; get_task is a quick look.
- A task started with keepAliveSeconds stays open after its result: follow_up continues the same Claude session. cancel_task stops a task (close: true ends an open one gracefully).
- The agent sees only its prompt and files (or a git repo: get_changes then shows its change): say everything it needs.
- A task started with approval rules holds matching tool calls: wait_task returns with state "waiting-for-approval" and the call under pendingApprovals. Ask the user unless they already said what to allow, then answer with approve.
- Resources ccflow://tasks/{id} and ccflow://tasks/{id}/transcript show a task's state and what its agent did.`;

/**
 * One MCP server (one per client session: over HTTP each session gets its own) on a shared
 * connection to Temporal.
 */
export function createMcpServer(gateway: ClientGateway, o: { version: string }): McpServer {
  const server = new McpServer({ name: 'ccflow', version: o.version }, { instructions: INSTRUCTIONS });
  registerTaskTools(server, gateway);
  registerFollowUpTool(server, gateway);
  registerPipelineTools(server, gateway);
  registerApprovalTool(server, gateway);
  registerChangesTool(server, gateway);
  registerResources(server, gateway);
  return server;
}
