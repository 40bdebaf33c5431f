import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  isCancellation,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { evaluateCondition, parseCondition, render } from '../domain/expressions/index.js';
import { sessionSource, topologicalOrder, workspaceSource } from '../domain/pipeline-graph.js';
import type { PipelineResult, PipelineStatus, PipelineStepStatus, StepState } from '../schemas/messages.js';
import type { PipelinePlan, PlannedStep } from '../schemas/pipeline-spec.js';
import type { TaskResult } from '../schemas/task-spec.js';
import { validation } from './activities.js';
import { agentTask } from './agent-task.js';
import { describeFailure, surface } from './failures.js';
import { pipelineStatusQuery, stepWaitingSignal, stepWorkflowId } from './messages.js';

/**
 * A pipeline: named steps, each an agentTask child workflow, run in dependency order with
 * independent steps in parallel. Prompts are templates over earlier results, `when` conditions
 * skip steps, `session: continue:<step>` resumes a step's session (and workspace) in the next.
 */

const FINISHED: readonly StepState[] = ['done', 'failed', 'skipped', 'cancelled'];

export async function pipeline(input: unknown): Promise<PipelineResult> {
  const startedAt = Date.now();
  const pipelineId = workflowInfo().workflowId;
  const status: PipelineStatus = { workflowId: pipelineId, phase: 'validating', steps: [], numTurns: 0, totalCostUsd: 0 };
  setHandler(pipelineStatusQuery, () => status);

  let plan: PipelinePlan;
  try {
    plan = await validation.validatePipelineSpec(input);
  } catch (err) {
    throw surface(err, 'invalid pipeline');
  }

  if (plan.name !== undefined) status.name = plan.name;
  status.phase = 'running';
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const states = new Map<string, PipelineStepStatus>(
    plan.steps.map((s) => [s.name, { name: s.name, state: 'pending', dependsOn: s.dependsOn, numTurns: 0, costUsd: 0, durationMs: 0 }]),
  );
  status.steps = [...states.values()];
  // A step's task says when a tool call of its waits for a human, and when that is over.
  setHandler(stepWaitingSignal, (w) => {
    const st = [...states.values()].find((x) => stepWorkflowId(pipelineId, x.name) === w.workflowId);
    if (!st || (st.state !== 'running' && st.state !== 'waiting')) return;
    st.state = w.waiting ? 'waiting' : 'running';
    if (w.waiting && w.requestId && w.toolName) st.approval = { requestId: w.requestId, toolName: w.toolName };
    else delete st.approval;
  });
  const sorted = topologicalOrder(plan.steps);
  const order = 'order' in sorted ? sorted.order : plan.steps.map((s) => s.name); // validated acyclic
  const stateOf = (name: string): PipelineStepStatus => states.get(name) as PipelineStepStatus;

  /** What templates and conditions read. */
  const context = { inputs: plan.inputs, steps: {} as Record<string, Record<string, unknown>> };
  const publish = (st: PipelineStepStatus): void => {
    context.steps[st.name] = {
      status: st.state,
      ...(st.result !== undefined ? { result: st.result } : {}),
      ...(st.sessionId !== undefined ? { sessionId: st.sessionId } : {}),
      ...(st.workflowId !== undefined ? { workflowId: st.workflowId } : {}),
      ...(st.error !== undefined ? { error: st.error } : {}),
      numTurns: st.numTurns,
      costUsd: st.costUsd,
    };
  };
  const skip = (st: PipelineStepStatus, reason: string): void => {
    st.state = 'skipped';
    st.reason = reason;
    publish(st);
  };

  const running = new Map<string, { done: Promise<void>; scope: CancellationScope }>();
  let stoppedBy: string | undefined;
  let cancellation: unknown;

  const start = (step: PlannedStep): void => {
    const st = stateOf(step.name);
    st.state = 'running';
    const stepStartedAt = Date.now();
    const continued = sessionSource(step);
    const copied = workspaceSource(step);
    const from = continued ?? copied;
    const task: Record<string, unknown> = { ...step.task, prompt: render(step.prompt, context) };
    if (from !== undefined) {
      const source = stateOf(from);
      task.continueFrom = {
        workflowId: stepWorkflowId(pipelineId, from),
        ...(continued !== undefined ? { sessionId: source.sessionId } : { workspaceOnly: true }),
      };
    }
    const scope = new CancellationScope();
    const done = scope
      .run(async () => {
        try {
          const child = await startChild(agentTask, {
            workflowId: stepWorkflowId(pipelineId, step.name),
            args: [task],
            // A cancelled pipeline cancels its steps, and waits until each has torn its sandbox down.
            cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          });
          st.workflowId = child.workflowId;
          const r: TaskResult = await child.result();
          st.state = 'done';
          st.result = r.result;
          st.sessionId = r.sessionId;
          st.numTurns = r.numTurns;
          st.costUsd = r.totalCostUsd;
          if (r.changes) st.changes = r.changes;
          if (r.push) st.push = r.push;
        } catch (err) {
          if (isCancellation(err)) {
            st.state = 'cancelled';
            cancellation ??= err;
          } else {
            st.state = 'failed';
            st.error = describeFailure(err);
          }
        }
      })
      .finally(() => {
        delete st.approval;
        st.durationMs = Date.now() - stepStartedAt;
        status.numTurns += st.numTurns;
        status.totalCostUsd += st.costUsd;
        publish(st);
        running.delete(step.name);
        if (st.state === 'failed' && step.onFailure === 'stop' && stoppedBy === undefined) {
          stoppedBy = step.name;
          status.phase = 'stopping';
          for (const other of running.values()) other.scope.cancel();
        }
      });
    running.set(step.name, { done, scope });
  };

  for (;;) {
    // One pass in dependency order settles every step that can be decided now.
    for (const name of order) {
      const st = stateOf(name);
      const step = byName.get(name) as PlannedStep;
      if (st.state !== 'pending') continue;
      if (stoppedBy !== undefined) {
        skip(st, `the pipeline stopped: step "${stoppedBy}" failed`);
        continue;
      }
      if (cancellation !== undefined) {
        skip(st, 'the pipeline was cancelled');
        continue;
      }
      if (!step.dependsOn.every((d) => FINISHED.includes(stateOf(d).state))) continue;
      const broken = step.dependsOn.find((d) => stateOf(d).state === 'failed' || stateOf(d).state === 'cancelled');
      if (broken !== undefined) {
        skip(st, `dependency "${broken}" ${stateOf(broken).state}`);
        continue;
      }
      const from = sessionSource(step) ?? workspaceSource(step);
      if (from !== undefined && stateOf(from).state !== 'done') {
        skip(st, `step "${from}" was ${stateOf(from).state}: there is nothing to continue from`);
        continue;
      }
      if (step.when !== undefined && !evaluateCondition(parseCondition(step.when), context)) {
        skip(st, `condition is false: ${step.when}`);
        continue;
      }
      start(step);
    }
    if (running.size === 0) break;
    await Promise.race([...running.values()].map((r) => r.done));
  }

  const all = [...states.values()];
  const failed = all.filter((s) => s.state === 'failed').map((s) => s.name);
  if (cancellation !== undefined && stoppedBy === undefined) {
    status.phase = 'cancelled';
    throw cancellation;
  }
  if (stoppedBy !== undefined) {
    status.phase = 'failed';
    const st = stateOf(stoppedBy);
    throw ApplicationFailure.create({
      type: 'PipelineStepFailed',
      nonRetryable: true,
      message: `step "${stoppedBy}" failed: ${st.error ?? 'unknown error'}`,
      details: [{ steps: all.map(({ name, state, reason, error, workflowId }) => ({ name, state, reason, error, workflowId })) }],
    });
  }
  status.phase = 'done';
  return {
    workflowId: pipelineId,
    ...(plan.name !== undefined ? { name: plan.name } : {}),
    ok: failed.length === 0,
    steps: Object.fromEntries(all.map((s) => [s.name, s])),
    failed,
    skipped: all.filter((s) => s.state === 'skipped').map((s) => s.name),
    numTurns: status.numTurns,
    totalCostUsd: status.totalCostUsd,
    durationMs: Date.now() - startedAt,
    ...finalChange(all),
  };
}

/** The pipeline's final change: the last step, in spec order, that recorded one. */
function finalChange(steps: readonly PipelineStepStatus[]): Pick<PipelineResult, 'changes' | 'changesStep'> {
  const last = [...steps].reverse().find((s) => s.changes !== undefined);
  return last?.changes ? { changes: last.changes, changesStep: last.name } : {};
}
