import {
  ApprovalError,
  CcflowError,
  ChangesError,
  FollowUpError,
  InvalidInputError,
  ServerUnreachableError,
  TaskFailedError,
  TaskNotFoundError,
} from '../../client/index.js';

/**
 * What a calling model reads when a tool cannot do what it asked: one paragraph saying what
 * went wrong and what to do about it. Tools never throw past the server; every failure becomes
 * an MCP tool result with `isError: true` built from this text.
 */

/** Thrown by a tool for a problem the caller can fix; the message is shown as it is. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

/** The text of a tool error for any failure, with a hint on what to do next. */
export function toolErrorText(tool: string, err: unknown): string {
  if (err instanceof ToolError) return err.message;
  if (err instanceof ServerUnreachableError) {
    return `${err.message}. ccflow cannot reach its Temporal server, so no task can be started or looked at; ask the user to start it, then call ${tool} again.`;
  }
  if (err instanceof TaskNotFoundError) {
    return `${err.message}. Check the workflowId (as returned by start_task or run_pipeline); list_tasks shows recent tasks.`;
  }
  if (err instanceof InvalidInputError || err instanceof FollowUpError) {
    return `${err.message}. Nothing was started or sent: fix the named field and call ${tool} again.`;
  }
  if (err instanceof TaskFailedError) return `${err.message}.`;
  if (err instanceof ApprovalError) {
    return `${err.message}. Nothing was answered; get_task shows the calls that wait now (pendingApprovals).`;
  }
  if (err instanceof ChangesError && err.reason === 'missing') {
    return `${err.message}. A change is recorded for each finished turn of a task started with repo, and read from the artifact store on this machine (CCFLOW_ARTIFACT_DIR).`;
  }
  if (err instanceof CcflowError) return err.message;
  const message = err instanceof Error ? err.message : String(err);
  return `${tool} failed: ${message.split('\n')[0] ?? message}`;
}

/** The answer when no worker would run anything: what is missing and who can fix it. */
export function noWorkerText(where: string): string {
  return (
    `no ccflow worker is polling ${where}, so nothing would run it. Ask the user to start one ` +
    '(`npx ccflow worker`, or `npx ccflow dev` for a dev server and a worker on this machine)'
  );
}
