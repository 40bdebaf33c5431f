import { Context } from '@temporalio/activity';
import type { TaskRef } from '../artifacts/types.js';

/** The task (namespace and workflow id) the running activity works for. */
export function currentTask(): TaskRef {
  const info = Context.current().info;
  return { namespace: info.workflowNamespace ?? 'default', workflowId: info.workflowExecution?.workflowId ?? 'unknown' };
}
