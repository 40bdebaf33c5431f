import type { Client } from '@temporalio/client';

/** A worker seen polling a task queue. */
export interface QueuePoller {
  /** The worker's identity (`pid@host` unless configured). */
  identity: string;
  /** When it last polled (ISO 8601), if the server says. */
  lastSeen?: string;
}

// temporal.api.enums.v1 values, spelled out so the client needs no direct @temporalio/proto import.
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE_WORKFLOW = 1;

/**
 * The workers polling a task queue for workflow tasks, as the server reports them. The server
 * keeps listing a worker for a few minutes after its last poll, so an empty list means no
 * worker has polled lately: nothing would start a task put on this queue.
 */
export async function queuePollers(client: Client, taskQueue: string): Promise<QueuePoller[]> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (res.pollers ?? []).map((p) => {
    const seconds = p.lastAccessTime?.seconds;
    const lastSeen = seconds !== undefined && seconds !== null ? new Date(Number(seconds) * 1000).toISOString() : undefined;
    return { identity: p.identity ?? 'unknown', ...(lastSeen ? { lastSeen } : {}) };
  });
}
