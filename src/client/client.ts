import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { taskDetails, taskSummary } from '../domain/task-summary.js';
import { describeZodError } from '../schemas/describe-error.js';
import type { ApproveResult } from '../schemas/approvals.js';
import type { FollowUpInput } from '../schemas/messages.js';
import type { PipelineResult } from '../schemas/messages.js';
import type { ProgressEvent } from '../schemas/progress.js';
import { TaskSpec, type TaskResult, type TaskSpecInput } from '../schemas/task-spec.js';
import type { TaskStatus } from '../schemas/messages.js';
import { closeSignal, statusQuery, type AgentTaskWorkflow, type PipelineWorkflow } from '../workflows/messages.js';
import { CcflowOrigin } from '../workflows/search-attributes.js';
import { approve, approvalsOf, listApprovals, type ApproveOpts, type PendingApproval } from './approvals.js';
import { StoredChange, type AppliedChange, type ChangesOpts, type CheckedOutChange, type DiffOpts } from './changes.js';
import { connectTemporal, resolveConnectOpts, type ConnectOpts } from './connection.js';
import { InvalidInputError, TaskNotFoundError, taskFailed } from './errors.js';
import { sendFollowUp, startFollowUp, type FollowUpOpts, type FollowUpOutcome, type StartedFollowUp } from './follow-up.js';
import { listTasks, listedTask, type ListOpts, type ListedTask } from './list.js';
import { followPipeline, startPipeline } from './pipeline.js';
import { readProgress, watchProgress, type WatchOpts } from './progress.js';
import { readTranscriptFiles, type TaskTranscript, type TranscriptOpts } from './transcript.js';
import { artifactSourceOf, directorySource } from './artifact-source.js';
import { queuePollers, type QueuePoller } from './workers.js';

/** Options of starting a task or a pipeline. */
export interface StartOpts {
  /** @default `task-<uuid>` (tasks), `pipeline-<uuid>` (pipelines) */
  workflowId?: string;
  /**
   * Who starts the task (the `CcflowOrigin` search attribute), so its starter can find its open
   * tasks again: `list({ origin })`. Front ends set it, e.g. `nats:<agent>.<owner>.<name>`.
   */
  origin?: string;
  /** Small facts kept with the task and returned by `list` and `describe` (Temporal's memo). */
  memo?: Record<string, unknown>;
}

/**
 * The typed client of ccflow: start tasks and pipelines, follow them, talk to open tasks.
 * Inputs are checked against their schemas before anything is sent, results are typed, and
 * every error is a CcflowError with a one-line message.
 *
 * ```ts
 * const ccflow = await CcflowClient.connect();
 * const { result } = await ccflow.run({ prompt: 'List the TODOs' });
 * await ccflow.disconnect();
 * ```
 */
export class CcflowClient {
  constructor(
    /** The Temporal client underneath, for anything ccflow does not wrap. */
    readonly temporal: Client,
    /** The task queue ccflow's workers poll. */
    readonly taskQueue: string,
  ) {}

  /** Connects to Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CCFLOW_TASK_QUEUE unless given). */
  static async connect(o: ConnectOpts = {}): Promise<CcflowClient> {
    const opts = resolveConnectOpts(o);
    return new CcflowClient(await connectTemporal(opts), opts.taskQueue);
  }

  /**
   * Starts an agentTask. The spec is checked here first so a typo fails before anything
   * starts; the workflow checks again (it also accepts input from other clients).
   */
  async start(spec: TaskSpecInput, o: StartOpts = {}): Promise<WorkflowHandle<AgentTaskWorkflow>> {
    const parsed = TaskSpec.safeParse(spec);
    if (!parsed.success) throw new InvalidInputError(`invalid task: ${describeZodError(parsed.error)}`);
    return this.temporal.workflow.start<AgentTaskWorkflow>('agentTask', {
      taskQueue: this.taskQueue,
      workflowId: o.workflowId ?? `task-${randomUUID()}`,
      args: [spec],
      // What Web UI shows for the run: the prompt's first line, and model/tools/schema.
      staticSummary: taskSummary(parsed.data.prompt),
      staticDetails: taskDetails(parsed.data),
      ...(o.origin !== undefined ? { typedSearchAttributes: [{ key: CcflowOrigin, value: o.origin }] } : {}),
      ...(o.memo !== undefined ? { memo: o.memo } : {}),
    });
  }

  /** Starts a task and waits for its validated result; a task that fails throws TaskFailedError. */
  async run(spec: TaskSpecInput, o: StartOpts = {}): Promise<TaskResult> {
    const handle = await this.start(spec, o);
    return this.result(handle.workflowId);
  }

  /** Waits for a task's result; a task that fails throws TaskFailedError. */
  async result(workflowId: string): Promise<TaskResult> {
    try {
      return await this.temporal.workflow.getHandle<AgentTaskWorkflow>(workflowId).result();
    } catch (err) {
      throw notFound(workflowId, err) ?? taskFailed(workflowId, err);
    }
  }

  /**
   * The next prompt in a task's Claude session: run by the task while it is open, otherwise
   * by a new task that continues the closed one from its saved session.
   */
  async followUp(workflowId: string, input: FollowUpInput, o: FollowUpOpts = {}): Promise<FollowUpOutcome> {
    return sendFollowUp(this.temporal, workflowId, input, { taskQueue: this.taskQueue, ...o });
  }

  /**
   * Like followUp, but returns once the follow-up is on its way (accepted by the open task, or
   * its continuation started) instead of waiting for the turn; `result()` waits for it.
   */
  async startFollowUp(workflowId: string, input: FollowUpInput, o: FollowUpOpts = {}): Promise<StartedFollowUp> {
    return startFollowUp(this.temporal, workflowId, input, { taskQueue: this.taskQueue, ...o });
  }

  /** Ends an open task's keep-alive window now; follow-ups it already accepted still run. */
  async close(workflowId: string): Promise<void> {
    try {
      await this.temporal.workflow.getHandle(workflowId).signal(closeSignal);
    } catch (err) {
      throw notFound(workflowId, err) ?? err;
    }
  }

  /** Cancels a task: its agent is killed and its sandbox torn down before it ends cancelled. */
  async cancel(workflowId: string): Promise<void> {
    try {
      await this.temporal.workflow.getHandle(workflowId).cancel();
    } catch (err) {
      throw notFound(workflowId, err) ?? err;
    }
  }

  /** One look at a task: a progress snapshot while it runs, its result or failure once it ended. */
  async status(workflowId: string): Promise<ProgressEvent> {
    try {
      return await readProgress(this.temporal, workflowId);
    } catch (err) {
      throw notFound(workflowId, err) ?? err;
    }
  }

  /** Follows a task: progress snapshots as they change, then its result or failure. */
  watch(workflowId: string, o: WatchOpts = {}): AsyncGenerator<ProgressEvent> {
    return watchProgress(this.temporal, workflowId, o);
  }

  /** One task as `list` shows it (status, cost, turns, origin, memo), or TaskNotFoundError. */
  async describe(workflowId: string): Promise<ListedTask> {
    try {
      return listedTask(await this.temporal.workflow.getHandle(workflowId).describe());
    } catch (err) {
      throw notFound(workflowId, err) ?? err;
    }
  }

  /** What an agentTask's `status` query answers now: phase, every turn, totals, open window. */
  async taskStatus(workflowId: string): Promise<TaskStatus> {
    try {
      return await this.temporal.workflow.getHandle<AgentTaskWorkflow>(workflowId).query(statusQuery);
    } catch (err) {
      throw notFound(workflowId, err) ?? err;
    }
  }

  /**
   * A task's saved transcripts (read from the artifact store: the directory the task recorded,
   * or the store this machine is configured with). A task that
   * is unknown to Temporal throws TaskNotFoundError unless `dir` says where to look.
   */
  async transcript(workflowId: string, o: TranscriptOpts = {}): Promise<TaskTranscript> {
    const event = await this.status(workflowId).catch((err: unknown) => {
      if (o.dir !== undefined) return undefined;
      throw err;
    });
    const source =
      o.dir !== undefined
        ? directorySource(o.dir)
        : await artifactSourceOf({ namespace: this.temporal.options.namespace, workflowId }, event);
    const running = event?.type === 'progress';
    return { dir: source.where, running, files: await readTranscriptFiles(source, { running }) };
  }

  /**
   * The workers polling this client's task queue lately. Empty: no worker would run a task
   * started now (start one with `ccflow worker` or `ccflow dev`).
   */
  async workers(): Promise<QueuePoller[]> {
    return queuePollers(this.temporal, this.taskQueue);
  }

  /**
   * Tool calls waiting for a human: across every task on this client's queue (found through
   * the CcflowWaiting search attribute), or under one task, pipeline or request id.
   */
  async approvals(o: { target?: string } = {}): Promise<PendingApproval[]> {
    return o.target === undefined ? listApprovals(this.temporal, this.taskQueue) : approvalsOf(this.temporal, o.target);
  }

  /**
   * Answers the call waiting under `target` (a task id, a pipeline id, or `<workflowId>/<requestId>`):
   * allow runs it, deny tells the agent why. Returns once the task accepted the answer.
   */
  async approve(target: string, o: ApproveOpts): Promise<{ request: PendingApproval; result: ApproveResult }> {
    return approve(this.temporal, target, o);
  }

  /** Recent tasks on this client's queue, newest first. */
  list(o: ListOpts = {}): Promise<ListedTask[]> {
    return listTasks(this.temporal, this.taskQueue, o);
  }

  /** Starts a pipeline (the spec is checked here first). */
  startPipeline(spec: unknown, o: StartOpts = {}): Promise<WorkflowHandle<PipelineWorkflow>> {
    return startPipeline(this.temporal, spec, { taskQueue: this.taskQueue, ...o });
  }

  /** Runs a pipeline to its end, reporting step changes; a pipeline that fails throws TaskFailedError. */
  async pipeline(spec: unknown, o: StartOpts & { onStep?: Parameters<typeof followPipeline>[1] } = {}): Promise<PipelineResult> {
    const handle = await this.startPipeline(spec, o);
    try {
      return await followPipeline(handle, o.onStep ?? (() => undefined));
    } catch (err) {
      throw taskFailed(handle.workflowId, err);
    }
  }

  /**
   * A task's stored change to its repository (from its artifacts): the patch, a 3-way apply,
   * a checkout. A finished pipeline's id stands for its final change.
   */
  async changes(workflowId: string, o: ChangesOpts = {}): Promise<StoredChange> {
    return StoredChange.open(this.temporal, workflowId, o);
  }

  /** The patch of a task's whole change (or of one turn, or its diffstat); '' when nothing changed. */
  async diff(workflowId: string, o: DiffOpts = {}): Promise<string> {
    return (await this.changes(workflowId, o)).diff(o);
  }

  /** Applies a task's change to a checkout (default: the current directory), 3-way; conflicts throw ChangesError. */
  async apply(workflowId: string, o: ChangesOpts & { dir?: string } = {}): Promise<AppliedChange> {
    return (await this.changes(workflowId, o)).apply(o.dir ?? process.cwd());
  }

  /** Checks a task's final tree out into a new directory, its commits on the task's branch. */
  async checkout(workflowId: string, dir: string, o: ChangesOpts = {}): Promise<CheckedOutChange> {
    return (await this.changes(workflowId, o)).checkout(dir);
  }

  /** Closes the connection to Temporal. */
  async disconnect(): Promise<void> {
    await this.temporal.connection.close();
  }
}

function notFound(workflowId: string, err: unknown): TaskNotFoundError | undefined {
  return err instanceof WorkflowNotFoundError
    ? new TaskNotFoundError(`no task with workflow id "${workflowId}"`, { cause: err })
    : undefined;
}
