import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { DEFAULT_TASK_QUEUE } from '../domain/constants.js';
import { InvalidInputError } from './errors.js';
import { checkPipelineSpec } from '../schemas/pipeline-spec.js';
import type { PipelineResult, PipelineStatus, PipelineStepStatus, PipelineWorkflow } from '../workflows/messages.js';
import { pipelineStatusQuery } from '../workflows/messages.js';

/** Thrown for a pipeline file that cannot be read or is invalid; the message lists every problem. */
export class PipelineSpecError extends InvalidInputError {
  override readonly name = 'PipelineSpecError';
}

/** Starts a pipeline workflow (the spec is checked here first, then again by the workflow). */
export async function startPipeline(
  client: Client,
  spec: unknown,
  o: { workflowId?: string; taskQueue?: string } = {},
): Promise<WorkflowHandle<PipelineWorkflow>> {
  const check = checkPipelineSpec(spec);
  if (!check.ok) throw new PipelineSpecError(`invalid pipeline: ${check.errors.join('; ')}`);
  return client.workflow.start<PipelineWorkflow>('pipeline', {
    taskQueue: o.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: o.workflowId ?? `pipeline-${randomUUID()}`,
    args: [spec],
  });
}

/**
 * Follows a running pipeline through its status query, calling `onChange` for every step whose
 * state changed, until the workflow closes; then returns its result (or throws its failure).
 */
export async function followPipeline(
  handle: WorkflowHandle<PipelineWorkflow>,
  onChange: (step: PipelineStepStatus, status: PipelineStatus) => void,
  o: { pollIntervalMs?: number } = {},
): Promise<PipelineResult> {
  const seen = new Map<string, string>();
  const report = (status: PipelineStatus) => {
    for (const step of status.steps) {
      // A running step is reported once its workflow id is known.
      if (step.state === 'pending' || (step.state === 'running' && !step.workflowId)) continue;
      if (seen.get(step.name) === step.state) continue;
      seen.set(step.name, step.state);
      onChange(step, status);
    }
  };
  let closed = false;
  const result = handle.result().finally(() => {
    closed = true;
  });
  result.catch(() => undefined);
  while (!closed) {
    // The first query can come before the first workflow task: ignore until it answers.
    const status = await handle.query(pipelineStatusQuery).catch(() => undefined);
    if (status) report(status);
    await Promise.race([result.catch(() => undefined), sleep(o.pollIntervalMs ?? 500)]);
  }
  const last = await handle.query(pipelineStatusQuery).catch(() => undefined);
  if (last) report(last);
  return result;
}
