import type { CcflowClient, ProgressEvent } from '../../client/index.js';
import { taskView, withApprovals, type TaskView } from './views.js';

/**
 * A task as get_task, wait_task and the task resource show it: its view, and while a call
 * waits for a human, the calls that wait under it (CcflowClient.approvals(), as `ccflow
 * approvals <id>` lists them: a task's own, or every waiting step's of a pipeline).
 */
export async function lookAt(client: CcflowClient, event: ProgressEvent): Promise<TaskView> {
  const view = taskView(event);
  if (view.state !== 'waiting-for-approval') return view;
  return withApprovals(view, await client.approvals({ target: event.workflowId }));
}
