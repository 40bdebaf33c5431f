import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ClientGateway } from './gateway.js';
import { WorkflowId } from './task-tools.js';
import { addTool } from './tool-kit.js';

/**
 * get_changes: a task's change to its repository (start_task with repo), as CcflowClient.changes()
 * reads it from the task's artifacts: the summary, a diffstat and the patch, cut to a size a
 * model can read. The same change `ccflow diff` prints.
 */

export const DEFAULT_DIFF_CHARS = 20_000;
const MAX_DIFF_CHARS = 200_000;

const GetChangesInput = z.strictObject({
  workflowId: WorkflowId.describe('The task (or finished pipeline: its final change) that worked on a repository.'),
  turn: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("One turn's own change: 1 for the task's prompt, 2.. for follow-ups. Default: the whole change, base to head."),
  maxDiffChars: z
    .number()
    .int()
    .min(0)
    .max(MAX_DIFF_CHARS)
    .default(DEFAULT_DIFF_CHARS)
    .describe(`At most this much of the patch (default ${DEFAULT_DIFF_CHARS}, at most ${MAX_DIFF_CHARS}; 0 for the summary only).`),
});

/** `text` cut at a line end within `max` characters, and whether it was cut. */
function bounded(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  const cut = text.lastIndexOf('\n', max);
  return { text: text.slice(0, cut > 0 ? cut + 1 : max), truncated: true };
}

export function registerChangesTool(server: McpServer, gateway: ClientGateway): void {
  addTool(server, {
    name: 'get_changes',
    description:
      'The change a task made to its repository (started with repo): one commit per turn, from its base commit to its head. ' +
      'Returns the summary (files, insertions, deletions, commits), a diffstat, and the patch in git diff form, cut to maxDiffChars (diffTruncated says so; ask for one turn, or read the summary, when it is large). ' +
      'Works while the task is open and after it ended; each finished turn is recorded. Nothing is applied anywhere: tell the user `ccflow apply <id>` or `ccflow checkout <id> <dir>` if they want it locally, or use push in start_task.',
    input: GetChangesInput,
    annotations: { title: "Read a task's change", readOnlyHint: true, openWorldHint: false },
    run: async ({ workflowId, turn, maxDiffChars }) => {
      const client = await gateway.client();
      const change = await client.changes(workflowId);
      const opts = turn !== undefined ? { turn } : {};
      const [summary, patch] = await Promise.all([change.summary(turn), change.diff(opts)]);
      const stat = patch.length > 0 ? await change.diff({ ...opts, stat: true }) : '';
      const diff = bounded(patch, maxDiffChars);
      return {
        workflowId: change.workflowId,
        ...(turn !== undefined ? { turn } : {}),
        summary: summary ?? null,
        stat,
        diff: diff.text,
        diffChars: patch.length,
        ...(diff.truncated ? { diffTruncated: true } : {}),
        next:
          patch.length === 0
            ? 'Nothing changed (yet): no turn has recorded a change.'
            : diff.truncated
              ? `The patch is ${patch.length} characters; this is the first ${diff.text.length}. Ask for one turn, or a larger maxDiffChars, for more.`
              : 'This is the whole patch.',
      };
    },
  });
}
