import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { WORKFLOW_TYPES } from '../domain/constants.js';
import { ApprovalRequest, type ApproveInput, type ApproveResult } from '../schemas/approvals.js';
import { approveUpdate, pipelineStatusQuery, statusQuery } from '../workflows/messages.js';
import { CcflowWaiting, WAITING_APPROVAL } from '../workflows/search-attributes.js';
import { CcflowError, TaskNotFoundError, describeFailure } from './errors.js';

/** A tool call waiting for a human, with the task it belongs to. */
export interface PendingApproval extends ApprovalRequest {
  workflowId: string;
  /** `<workflowId>/<requestId>`: names the request across tasks (`ccflow approve <id>`). */
  id: string;
  /** The pipeline the task is a step of, if it is one. */
  parentWorkflowId?: string;
}

/** Thrown when an answer cannot be given: nothing waits, several requests wait, or the task refused it. */
export class ApprovalError extends CcflowError {
  override readonly name = 'ApprovalError';
}

/** An answer as a person gives it; `target` says which request. */
export interface ApproveOpts {
  decision: 'allow' | 'deny';
  reason?: string;
  /** @default 'once' */
  remember?: 'once' | 'session';
  /** Which request, when the target names several (a pipeline) or to make sure it is the one you saw. */
  requestId?: string;
}

/** A query needs a worker; without one it would wait for the RPC deadline. */
const QUERY_DEADLINE_MS = 3_000;

const withPending = (workflowId: string, raw: unknown, parentWorkflowId?: string): PendingApproval | undefined => {
  const pending = (raw as { approval?: { pending?: unknown } } | undefined)?.approval?.pending;
  const parsed = ApprovalRequest.safeParse(pending);
  if (!parsed.success) return undefined;
  return { ...parsed.data, workflowId, id: `${workflowId}/${parsed.data.requestId}`, ...(parentWorkflowId ? { parentWorkflowId } : {}) };
};

async function pendingOf(client: Client, workflowId: string, parentWorkflowId?: string): Promise<PendingApproval | undefined> {
  const handle = client.workflow.getHandle(workflowId);
  const status = await client.connection
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery))
    .catch(() => undefined);
  return withPending(workflowId, status, parentWorkflowId);
}

/**
 * Every request waiting for a human, across the tasks on a queue: found through the
 * CcflowWaiting search attribute, then read from each task's status. Oldest first.
 */
export async function listApprovals(client: Client, taskQueue: string): Promise<PendingApproval[]> {
  const query = `${CcflowWaiting.name}="${WAITING_APPROVAL}" AND ExecutionStatus="Running" AND TaskQueue="${taskQueue}"`;
  const found: PendingApproval[] = [];
  for await (const w of client.workflow.list({ query })) {
    const p = await pendingOf(client, w.workflowId, w.parentExecution?.workflowId ?? undefined);
    if (p) found.push(p);
  }
  return found.sort((a, b) => a.requestedAt - b.requestedAt);
}

/**
 * The requests waiting under a name: a task's, a pipeline's steps', or one request named
 * `<workflowId>/<requestId>`. Read from the workflows directly (no search index lag).
 */
export async function approvalsOf(client: Client, target: string): Promise<PendingApproval[]> {
  const named = /^(.+)\/(req-\d+)$/.exec(target);
  const workflowId = named?.[1] ?? target;
  const handle = client.workflow.getHandle(workflowId);
  let type: string;
  try {
    type = (await handle.describe()).type;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new TaskNotFoundError(`no task with workflow id "${workflowId}"`, { cause: err });
    throw err;
  }
  let found: PendingApproval[];
  if (type === WORKFLOW_TYPES.pipeline) {
    const status = await handle.query(pipelineStatusQuery);
    const waiting = status.steps.filter((s) => s.state === 'waiting' && s.workflowId);
    found = (await Promise.all(waiting.map((s) => pendingOf(client, s.workflowId as string, workflowId)))).filter((p) => p !== undefined);
  } else {
    const p = await pendingOf(client, workflowId);
    found = p ? [p] : [];
  }
  return named ? found.filter((p) => p.requestId === named[2]) : found;
}

/**
 * Answers the request waiting under `target` (see approvalsOf). Exactly one must match; the
 * task's validator has the last word (an answered or unknown request is refused, nothing recorded).
 */
export async function approve(
  client: Client,
  target: string,
  o: ApproveOpts,
): Promise<{ request: PendingApproval; result: ApproveResult }> {
  if (o.remember === 'session' && o.decision === 'deny') throw new ApprovalError('remember "session" applies to allow only');
  let candidates = await approvalsOf(client, target);
  if (o.requestId !== undefined) candidates = candidates.filter((p) => p.requestId === o.requestId || p.id === o.requestId);
  if (candidates.length === 0) {
    throw new ApprovalError(
      `nothing waits for approval under ${target}${o.requestId ? ` with request ${o.requestId}` : ''} (ccflow approvals lists what does)`,
    );
  }
  if (candidates.length > 1) {
    throw new ApprovalError(
      `${candidates.length} requests wait under ${target}: ${candidates.map((c) => `${c.id} (${c.toolName})`).join(', ')}; name one, e.g. ccflow approve ${candidates[0]?.id}`,
    );
  }
  const request = candidates[0] as PendingApproval;
  const input: ApproveInput = {
    requestId: request.requestId,
    decision: o.decision,
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    ...(o.remember !== undefined ? { remember: o.remember } : {}),
  };
  try {
    const result = await client.workflow.getHandle(request.workflowId).executeUpdate(approveUpdate, { args: [input] });
    return { request, result };
  } catch (err) {
    // A refusal by the task's validator: its message says why (already answered, unknown request).
    if (err instanceof WorkflowUpdateFailedError) {
      throw new ApprovalError(`${request.id}: ${err.cause instanceof Error ? err.cause.message : describeFailure(err)}`, { cause: err });
    }
    throw err;
  }
}
