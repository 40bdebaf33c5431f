import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApplicationFailure,
  WorkflowFailedError,
  defaultPayloadConverter,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApprovalRequest } from '../schemas/approvals.js';
import { RunProgress } from '../schemas/run-progress.js';
import { z } from 'zod';
import {
  sameProgress,
  type PendingActivity,
  type ProgressEvent,
  type ProgressFailure,
  type ProgressSnapshot,
} from '../schemas/progress.js';

/**
 * Reads a task's progress from Temporal, so it works from any machine that reaches the server:
 * the workflow's `status` query (phase, finished runs, cost and turns so far) and the pending
 * agent activity's heartbeat details (turns, last tool and text of the run in flight).
 */

/** Name of the agentTask workflow's status query (`statusQuery` in src/workflows/agent-task.ts). */
const STATUS_QUERY = 'status';
/** A query needs a worker; without one it would wait for the RPC deadline. */
const QUERY_DEADLINE_MS = 3_000;
const AGENT_ACTIVITY = 'runClaude';

const ProgressDetails = RunProgress.partial();

/**
 * What the CLI reads from a workflow's `status` query: the fields agentTask's TaskStatus and the
 * pipeline's PipelineStatus share, and the ones particular to each, all optional.
 */
const StatusView = z.looseObject({
  phase: z.string(),
  numTurns: z.number().catch(0),
  totalCostUsd: z.number().catch(0),
  runs: z.array(z.unknown()).optional().catch(undefined),
  resultAttempts: z.number().optional().catch(undefined),
  sandboxId: z.string().optional().catch(undefined),
  sessionId: z.string().optional().catch(undefined),
  lastResultErrors: z.array(z.string()).optional().catch(undefined),
  steps: z
    .array(z.looseObject({ name: z.string(), state: z.string() }))
    .optional()
    .catch(undefined),
  approval: z.looseObject({ pending: ApprovalRequest.optional() }).optional().catch(undefined),
});

type RawPending = NonNullable<WorkflowExecutionDescription['raw']['pendingActivities']>[number];

function pendingActivity(raw: RawPending): { activity: PendingActivity; progress?: ReturnType<typeof ProgressDetails.parse> } {
  const type = raw.activityType?.name ?? 'activity';
  let progress: ReturnType<typeof ProgressDetails.parse> | undefined;
  const payload = raw.heartbeatDetails?.payloads?.[0];
  if (payload) {
    try {
      const parsed = ProgressDetails.safeParse(defaultPayloadConverter.fromPayload(payload));
      if (parsed.success) progress = parsed.data;
    } catch {
      // encrypted or foreign heartbeat details: show the activity without them
    }
  }
  return {
    activity: {
      type,
      attempt: raw.attempt ?? 1,
      ...(raw.lastFailure?.message ? { lastFailure: raw.lastFailure.message } : {}),
      ...(progress?.runDir ? { run: runLabel(progress.runDir) } : {}),
    },
    progress,
  };
}

/** `.../runs/run-2/a1` → `run-2`. */
function runLabel(runDir: string): string {
  const m = /runs\/([^/]+)\/a\d+\/?$/.exec(runDir);
  return m?.[1] ?? runDir.split('/').filter(Boolean).at(-1) ?? runDir;
}

const END_STATUS: Record<string, ProgressFailure['status']> = {
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed-out',
};

/** The result or failure of a closed workflow. */
async function outcome(handle: WorkflowHandle, desc: WorkflowExecutionDescription): Promise<ProgressEvent> {
  const at = Date.now();
  const elapsedMs = (desc.closeTime ?? new Date(at)).getTime() - desc.startTime.getTime();
  const base = { workflowId: desc.workflowId, at, elapsedMs };
  try {
    const value: unknown = await handle.result();
    const result = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
    return { type: 'result', ...base, result };
  } catch (err) {
    return { type: 'failure', ...base, ...describeEnd(err, END_STATUS[desc.status.name] ?? 'failed') };
  }
}

/** Status, type, message and artifacts directory of a workflow that did not succeed. */
export function describeEnd(
  err: unknown,
  status: ProgressFailure['status'],
): Pick<ProgressFailure, 'status' | 'failureType' | 'message' | 'artifactsDir'> {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const artifacts = (cause.details ?? []).find(
      (d): d is { artifacts: string } =>
        typeof d === 'object' && d !== null && typeof (d as { artifacts?: unknown }).artifacts === 'string',
    );
    return {
      status,
      ...(cause.type ? { failureType: cause.type } : {}),
      message: cause.message,
      ...(artifacts ? { artifactsDir: artifacts.artifacts } : {}),
    };
  }
  return { status, message: cause instanceof Error ? cause.message : String(cause) };
}

/** One look at a task: a progress snapshot while it runs, its result or failure once closed. */
export async function readProgress(client: Client, workflowId: string): Promise<ProgressEvent> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  if (desc.status.name !== 'RUNNING') return outcome(handle, desc);

  const rawStatus: unknown = await client.connection
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<unknown>(STATUS_QUERY))
    .catch(() => undefined);
  const parsedStatus = StatusView.safeParse(rawStatus);
  const status = parsedStatus.success ? parsedStatus.data : undefined;
  const pending = (desc.raw.pendingActivities ?? []).map(pendingActivity);
  const agent = pending.find((p) => p.activity.type === AGENT_ACTIVITY) ?? pending[0];
  const live = agent?.activity.type === AGENT_ACTIVITY ? agent.progress : undefined;
  const at = Date.now();
  const snapshot: ProgressSnapshot = {
    type: 'progress',
    workflowId,
    at,
    elapsedMs: at - desc.startTime.getTime(),
    // Other workflow types (a pipeline) have no `status` query: their pending activity says enough.
    phase: status?.phase ?? (agent ? agent.activity.type : 'running'),
    turns: (status?.numTurns ?? 0) + (live?.turns ?? 0),
    costUsd: (status?.totalCostUsd ?? 0) + (live?.costUsd ?? 0),
    runs: status?.runs?.length ?? 0,
    resultAttempts: status?.resultAttempts ?? 0,
    toolRunning: (live?.pendingTools ?? 0) > 0,
  };
  const sandboxId = status?.sandboxId ?? live?.sandboxId;
  const sessionId = live?.sessionId ?? status?.sessionId;
  if (sandboxId) snapshot.sandboxId = sandboxId;
  if (sessionId) snapshot.sessionId = sessionId;
  if (agent) snapshot.activity = agent.activity;
  if (live?.lastTool) snapshot.tool = live.lastTool;
  if (live?.lastText) snapshot.text = live.lastText;
  if (status?.lastResultErrors?.length) snapshot.lastResultErrors = status.lastResultErrors;
  if (status?.steps?.length) snapshot.steps = status.steps.map((s) => ({ name: s.name, state: s.state }));
  if (status?.approval?.pending) snapshot.approval = status.approval.pending;
  return snapshot;
}

export interface WatchOpts {
  /** @default 1_000 // ms */
  intervalMs?: number;
  /** Yield every poll (a live view redraws its clock), not only changes. */
  everyPoll?: boolean;
  signal?: AbortSignal;
}

/**
 * Follows a task until it closes: yields progress snapshots (each poll, or only when something
 * other than the clock changed) and ends with its result or failure event.
 */
export async function* watchProgress(client: Client, workflowId: string, o: WatchOpts = {}): AsyncGenerator<ProgressEvent> {
  let last: ProgressSnapshot | undefined;
  for (;;) {
    o.signal?.throwIfAborted();
    const event = await readProgress(client, workflowId);
    if (event.type !== 'progress') {
      yield event;
      return;
    }
    if (o.everyPoll || !sameProgress(last, event)) yield event;
    last = event;
    await sleep(o.intervalMs ?? 1_000, undefined, o.signal ? { signal: o.signal } : {});
  }
}
