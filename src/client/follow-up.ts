import type { ChangeSummary, PushRecord } from '../schemas/git.js';
import { CcflowError, TaskClosedError } from './errors.js';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateStage,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, fromPayloadsAtIndex } from '@temporalio/common';
import { DEFAULT_TASK_QUEUE } from '../domain/constants.js';
import { JsonSchemaObject, TaskSpec, type TaskSpecInput } from '../schemas/task-spec.js';
import { describeZodError } from '../schemas/describe-error.js';
import { closeSignal, followUpUpdate, type FollowUpInput, type FollowUpResult } from '../workflows/messages.js';
import { statusQuery, type AgentTaskWorkflow } from '../workflows/messages.js';

/** How a follow-up was delivered. */
export type FollowUpOutcome =
  /** The task was open: the Update ran in its session (same sandbox, or restored). */
  | { kind: 'update'; workflowId: string; result: FollowUpResult }
  /**
   * The task had closed: a new task restored its saved session and ran the prompt. With a
   * keep-alive (inherited from the old task) the new task stays open and this is its first turn.
   */
  | { kind: 'continued'; workflowId: string; continuedFrom: string; result: FirstResult; keepAliveSeconds: number };

/** A task's first result: its workflow result, or turn 1 of a task that stays open. */
export interface FirstResult {
  workflowId: string;
  result: Record<string, unknown>;
  sessionId: string;
  numTurns: number;
  totalCostUsd: number;
  durationMs: number;
  artifactsDir?: string;
  /** The repository change (turn 1's, or the whole task's) and its push, for tasks on a repository. */
  changes?: ChangeSummary;
  push?: PushRecord;
}

export interface FollowUpOpts {
  /** Task queue for a continuation task. @default 'ccflow' */
  taskQueue?: string;
  /** Workflow id for a continuation task. @default `<workflowId>-cont-<8 hex>` */
  newWorkflowId?: string;
  /** Called once the path is known (e.g. to tell a person a new task started). */
  onStart?: (what: { kind: 'update' | 'continued'; workflowId: string }) => void;
  /**
   * The Update's id. The task names the turn's live events with it, so a caller that chooses it
   * can follow its own turn as it runs; resending with the same id runs the turn once.
   * @default a random UUID
   */
  updateId?: string;
  /**
   * A closed task is continued in a new task (`true`), or the follow-up fails with
   * TaskClosedError (`false`: for callers whose session ends with its task).
   * @default true
   */
  continueClosed?: boolean;
}

/** Thrown for a follow-up that cannot be delivered at all (unknown task, not an agentTask). */
export class FollowUpError extends CcflowError {
  override readonly name = 'FollowUpError';
}

/**
 * A follow-up on its way: the open task accepted it (`update`), or a new task continuing the
 * closed one was started (`continued`). `result()` waits for the turn's result.
 */
export type StartedFollowUp =
  | { kind: 'update'; workflowId: string; result: () => Promise<FollowUpResult> }
  | { kind: 'continued'; workflowId: string; continuedFrom: string; keepAliveSeconds: number; result: () => Promise<FirstResult> };

/**
 * Starts a follow-up and returns once it is on its way, without waiting for the turn: an open
 * task has accepted the `followUp` Update (it queues behind a turn in flight), or a closed
 * task's continuation has started. A task closing right now is waited for, then continued.
 */
export async function startFollowUp(
  client: Client,
  workflowId: string,
  input: FollowUpInput,
  o: FollowUpOpts = {},
): Promise<StartedFollowUp> {
  if (input.resultSchema !== undefined) {
    const checked = JsonSchemaObject.safeParse(input.resultSchema);
    if (!checked.success) throw new FollowUpError(`invalid follow-up: resultSchema: ${describeZodError(checked.error)}`);
  }
  const handle = client.workflow.getHandle<AgentTaskWorkflow>(workflowId);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new FollowUpError(`no task with workflow id "${workflowId}"`);
    throw err;
  }
  if (description.type !== 'agentTask') {
    throw new FollowUpError(`workflow "${workflowId}" is a ${description.type}, not an agentTask; follow-ups go to tasks`);
  }

  if (description.status.name === 'RUNNING') {
    o.onStart?.({ kind: 'update', workflowId });
    try {
      const update = await handle.startUpdate(followUpUpdate, {
        args: [input],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
        ...(o.updateId ? { updateId: o.updateId } : {}),
      });
      return { kind: 'update', workflowId, result: () => update.result() };
    } catch (err) {
      if (!(await isClosing(handle, err))) throw err;
      if (o.continueClosed === false)
        throw new TaskClosedError(`task ${workflowId} is closing and takes no more follow-ups`, { cause: err });
      await handle.result().catch(() => undefined);
    }
  }
  if (o.continueClosed === false) throw new TaskClosedError(`task ${workflowId} is closed`);
  return startContinuation(client, workflowId, input, o);
}

/**
 * Sends a follow-up to a task and waits for the turn's result: the `followUp` Update while it
 * is open, otherwise a new task that continues the closed one from its saved session and
 * workspace (linked by its memo).
 */
export async function sendFollowUp(
  client: Client,
  workflowId: string,
  input: FollowUpInput,
  o: FollowUpOpts = {},
): Promise<FollowUpOutcome> {
  const started = await startFollowUp(client, workflowId, input, o);
  if (started.kind === 'continued') {
    const { result, ...rest } = started;
    return { ...rest, result: await result() };
  }
  try {
    return { kind: 'update', workflowId, result: await started.result() };
  } catch (err) {
    // Accepted, but the task closed under it before running it: continue it like any closed task.
    const handle = client.workflow.getHandle(workflowId);
    if (!(await isClosing(handle, err))) throw err;
    if (o.continueClosed === false) throw new TaskClosedError(`task ${workflowId} closed before it ran the follow-up`, { cause: err });
    await handle.result().catch(() => undefined);
    return continueTask(client, workflowId, input, o);
  }
}

/**
 * Whether a follow-up failed because the task is closing: refused as TaskClosing, or the task
 * is no longer running. A failed turn of an open task is not that: it is the follow-up's error.
 */
async function isClosing(handle: WorkflowHandle, err: unknown): Promise<boolean> {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === 'TaskClosing') return true;
  const now = await handle.describe().catch(() => undefined);
  return now !== undefined && now.status.name !== 'RUNNING';
}

/** Starts a new task that restores a closed task's saved session and runs `input.prompt`, and waits for its first result. */
export async function continueTask(
  client: Client,
  workflowId: string,
  input: FollowUpInput,
  o: FollowUpOpts = {},
): Promise<FollowUpOutcome> {
  const { result, ...rest } = await startContinuation(client, workflowId, input, o);
  return { ...rest, result: await result() };
}

/** Starts a new task that restores a closed task's saved session and runs `input.prompt`. */
async function startContinuation(
  client: Client,
  workflowId: string,
  input: FollowUpInput,
  o: FollowUpOpts,
): Promise<Extract<StartedFollowUp, { kind: 'continued' }>> {
  const previous = await startedSpec(client, workflowId);
  // Everything of the old spec carries over but its seed files (the workspace is restored instead).
  const { files: _files, continueFrom: _from, ...rest } = previous;
  const spec: TaskSpecInput = {
    ...rest,
    prompt: input.prompt,
    ...(input.resultSchema !== undefined ? { resultSchema: input.resultSchema } : {}),
    continueFrom: { workflowId },
  };
  const parsed = TaskSpec.safeParse(spec);
  if (!parsed.success) throw new FollowUpError(`cannot continue ${workflowId}: ${describeZodError(parsed.error)}`);
  const newId = o.newWorkflowId ?? `${workflowId}-cont-${randomUUID().slice(0, 8)}`;
  await client.workflow.start<AgentTaskWorkflow>('agentTask', {
    taskQueue: o.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: newId,
    args: [spec],
    memo: { continuedFrom: workflowId },
  });
  o.onStart?.({ kind: 'continued', workflowId: newId });
  return {
    kind: 'continued',
    workflowId: newId,
    continuedFrom: workflowId,
    keepAliveSeconds: parsed.data.keepAliveSeconds,
    result: () => waitForFirstTurn(client, newId),
  };
}

/** Ends an open task's keep-alive window now (queued follow-ups still run). */
export async function closeTask(client: Client, workflowId: string): Promise<void> {
  await client.workflow.getHandle(workflowId).signal(closeSignal);
}

/**
 * Waits for the first result of a task that stays open for follow-ups (its workflow result only
 * comes when it closes): polls the status query until turn 1 has a result.
 */
export async function waitForFirstTurn(client: Client, workflowId: string, o: { pollIntervalMs?: number } = {}): Promise<FirstResult> {
  const handle = client.workflow.getHandle<AgentTaskWorkflow>(workflowId);
  // Polls rather than long-polling the result, so nothing is left in flight once turn 1 is in.
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    const first = status?.turns?.[0];
    if (first?.result && first.sessionId) {
      return {
        workflowId,
        result: first.result,
        sessionId: first.sessionId,
        numTurns: first.numTurns,
        totalCostUsd: first.costUsd,
        durationMs: first.durationMs,
        ...(first.changes ? { changes: first.changes } : {}),
        ...(first.push ? { push: first.push } : {}),
      };
    }
    const { status: state } = await handle.describe();
    if (state.name !== 'RUNNING') {
      const r = await handle.result(); // throws the task's failure
      return {
        workflowId,
        result: r.result,
        sessionId: r.sessionId,
        numTurns: r.numTurns,
        totalCostUsd: r.totalCostUsd,
        durationMs: r.durationMs,
        ...(r.artifactsDir ? { artifactsDir: r.artifactsDir } : {}),
        ...(r.changes ? { changes: r.changes } : {}),
        ...(r.push ? { push: r.push } : {}),
      };
    }
    await sleep(o.pollIntervalMs ?? 500);
  }
}

/** The TaskSpec a task was started with, read from its history's first event. */
async function startedSpec(client: Client, workflowId: string): Promise<TaskSpecInput> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  const spec: unknown = fromPayloadsAtIndex(defaultPayloadConverter, 0, payloads);
  const parsed = TaskSpec.safeParse(spec);
  if (!parsed.success)
    throw new FollowUpError(`cannot continue ${workflowId}: its input is not a TaskSpec (${describeZodError(parsed.error)})`);
  return spec as TaskSpecInput;
}
