import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { CcflowCostUsd, CcflowOrigin, CcflowStatus, CcflowTurns } from '../workflows/search-attributes.js';
import { InvalidInputError } from './errors.js';

/** `--status` values and the visibility query each one means. */
export const STATUS_QUERIES: Record<string, string> = {
  // A terminated task never got to say so: Temporal's own status is the truth for these.
  running: 'ExecutionStatus="Running"',
  succeeded: `${CcflowStatus.name}="succeeded"`,
  failed: `${CcflowStatus.name}="failed"`,
  cancelled: `${CcflowStatus.name}="cancelled"`,
  terminated: 'ExecutionStatus="Terminated"',
  'timed-out': 'ExecutionStatus="TimedOut"',
};

const DISPLAY_STATUS: Record<string, string> = {
  RUNNING: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed-out',
  CONTINUED_AS_NEW: 'continued',
};

export interface ListedTask {
  workflowId: string;
  type: string;
  status: string;
  turns?: number;
  costUsd?: number;
  durationMs: number;
  startTime: string;
  /** Who started it (`StartOpts.origin`). */
  origin?: string;
  /** What its starter kept with it (`StartOpts.memo`). */
  memo?: Record<string, unknown>;
}

/** What listing and describing a workflow both tell. */
type WorkflowFacts = Pick<
  WorkflowExecutionInfo,
  'workflowId' | 'type' | 'status' | 'typedSearchAttributes' | 'closeTime' | 'startTime' | 'memo'
>;

export function listedTask(w: WorkflowFacts, now = Date.now()): ListedTask {
  const turns = w.typedSearchAttributes.get(CcflowTurns);
  const cost = w.typedSearchAttributes.get(CcflowCostUsd);
  const origin = w.typedSearchAttributes.get(CcflowOrigin);
  return {
    workflowId: w.workflowId,
    type: w.type,
    status: DISPLAY_STATUS[w.status.name] ?? w.status.name.toLowerCase(),
    ...(turns !== undefined ? { turns } : {}),
    ...(cost !== undefined ? { costUsd: cost } : {}),
    durationMs: (w.closeTime?.getTime() ?? now) - w.startTime.getTime(),
    startTime: w.startTime.toISOString(),
    ...(origin !== undefined ? { origin } : {}),
    ...(w.memo && Object.keys(w.memo).length > 0 ? { memo: w.memo } : {}),
  };
}

export interface ListOpts {
  /** One of STATUS_QUERIES' keys: running, succeeded, failed, cancelled, terminated, timed-out. */
  status?: string;
  /** @default 20 */
  limit?: number;
  /** A visibility query ANDed with the rest, e.g. `CcflowCostUsd > 1`. */
  query?: string;
  /** Only tasks started with this `StartOpts.origin`. */
  origin?: string;
}

/** Recent ccflow workflows on a task queue, newest first. */
export async function listTasks(client: Client, taskQueue: string, o: ListOpts = {}): Promise<ListedTask[]> {
  const limit = o.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInputError(`limit must be a positive integer, not ${limit}`);
  const clauses = [`TaskQueue="${taskQueue}"`];
  if (o.status !== undefined) {
    const q = STATUS_QUERIES[o.status];
    if (!q) throw new InvalidInputError(`status must be one of ${Object.keys(STATUS_QUERIES).join(', ')}, not "${o.status}"`);
    clauses.push(q);
  }
  if (o.origin !== undefined) clauses.push(`${CcflowOrigin.name}=${JSON.stringify(o.origin)}`);
  if (o.query) clauses.push(`(${o.query})`);
  const tasks: ListedTask[] = [];
  for await (const w of client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 100) })) {
    tasks.push(listedTask(w));
    if (tasks.length >= limit) break;
  }
  return tasks;
}
