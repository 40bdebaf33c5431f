import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_TASK_QUEUE } from '../domain/constants.js';
import { checkPipelineSpec } from '../schemas/pipeline-spec.js';
import type { PipelineResult, PipelineStatus, PipelineStepStatus, PipelineWorkflow } from '../workflows/messages.js';
import { pipelineStatusQuery } from '../workflows/messages.js';

/** Thrown for a pipeline file that cannot be read or is invalid; the message lists every problem. */
export class PipelineSpecError extends Error {
  override readonly name = 'PipelineSpecError';
}

/** Reads a pipeline spec from a YAML or JSON file (YAML is a superset of JSON) and checks it. */
export async function loadPipelineFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PipelineSpecError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let spec: unknown;
  try {
    spec = parseYaml(text);
  } catch (err) {
    throw new PipelineSpecError(`${file} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  const check = checkPipelineSpec(spec);
  if (!check.ok) throw new PipelineSpecError(`invalid pipeline ${file}:\n${check.errors.map((e) => `  - ${e}`).join('\n')}`);
  return spec;
}

/** Starts a pipeline workflow (the spec is checked here first, then again by the workflow). */
export async function startPipeline(
  client: Client,
  spec: unknown,
  o: { workflowId?: string; taskQueue?: string } = {},
): Promise<WorkflowHandle<PipelineWorkflow>> {
  const check = checkPipelineSpec(spec);
  if (!check.ok) throw new PipelineSpecError(`invalid pipeline:\n${check.errors.map((e) => `  - ${e}`).join('\n')}`);
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

/** One line per step state change, for people. */
export function formatStepChange(step: PipelineStepStatus): string {
  const name = step.name.padEnd(14);
  const state = step.state.padEnd(9);
  switch (step.state) {
    case 'running':
      return `  ${name} ${state} ${step.workflowId ?? ''}`.trimEnd();
    case 'done':
      return `  ${name} ${state} ${step.numTurns} turns · $${step.costUsd.toFixed(4)} · ${(step.durationMs / 1000).toFixed(1)} s`;
    case 'failed':
      return `  ${name} ${state} ${step.error ?? ''}`;
    case 'skipped':
      return `  ${name} ${state} ${step.reason ?? ''}`;
    default:
      return `  ${name} ${state}`;
  }
}

/** The results of a finished pipeline, for people. */
export function formatPipelineResult(r: PipelineResult): string {
  const steps = Object.values(r.steps);
  const count = (s: string) => steps.filter((x) => x.state === s).length;
  const lines = [
    `pipeline ${r.workflowId}${r.name ? ` (${r.name})` : ''}: ${count('done')} done, ${count('skipped')} skipped, ${count('failed')} failed` +
      ` · ${r.numTurns} turns · $${r.totalCostUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  for (const s of steps) {
    if (s.state === 'done') {
      lines.push(`${s.name}:`, indent(JSON.stringify(s.result, null, 2)));
    } else {
      lines.push(`${s.name}: ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.error ? `: ${s.error}` : ''}`);
    }
  }
  return lines.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
