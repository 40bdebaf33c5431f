import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE } from '../domain/constants.js';
import { TaskSpec, type TaskResult, type TaskSpecInput } from '../schemas/task-spec.js';
import { describeZodError } from '../schemas/describe-error.js';
import { taskDetails, taskSummary } from '../domain/task-summary.js';
import type { agentTask } from '../workflows/index.js';

/** A typed client for ccflow tasks: what `ccflow run` uses, usable from any program. */
export class CcflowClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string = DEFAULT_TASK_QUEUE,
  ) {}

  static async connect(o: { address?: string; namespace?: string; taskQueue?: string } = {}): Promise<CcflowClient> {
    const connection = await Connection.connect({ address: o.address ?? process.env.TEMPORAL_ADDRESS ?? DEFAULT_ADDRESS });
    return new CcflowClient(
      new Client({ connection, namespace: o.namespace ?? process.env.TEMPORAL_NAMESPACE ?? DEFAULT_NAMESPACE }),
      o.taskQueue,
    );
  }

  /**
   * Starts an agentTask. The spec is checked here first so a typo fails before anything
   * starts; the workflow checks again (it also accepts input from other clients).
   */
  async start(spec: TaskSpecInput, o: { workflowId?: string } = {}): Promise<WorkflowHandle<typeof agentTask>> {
    const parsed = TaskSpec.safeParse(spec);
    if (!parsed.success) throw new Error(`invalid task: ${describeZodError(parsed.error)}`);
    return this.temporal.workflow.start<typeof agentTask>('agentTask', {
      taskQueue: this.taskQueue,
      workflowId: o.workflowId ?? `task-${randomUUID()}`,
      args: [spec],
      // What Web UI shows for the run: the prompt's first line, and model/tools/schema.
      staticSummary: taskSummary(parsed.data.prompt),
      staticDetails: taskDetails(parsed.data),
    });
  }

  /** Starts a task and waits for its validated result. */
  async run(spec: TaskSpecInput, o: { workflowId?: string } = {}): Promise<TaskResult> {
    const handle = await this.start(spec, o);
    return handle.result();
  }

  async close(): Promise<void> {
    await this.temporal.connection.close();
  }
}

/** The innermost message of a failed workflow, for people: "<type>: <message>". */
export function describeFailure(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause as { type?: string; message?: string } | undefined;
    return cause?.type ? `${cause.type}: ${cause.message}` : (cause?.message ?? err.message);
  }
  return err instanceof Error ? err.message : String(err);
}
