/**
 * What a ccflow workflow tells the outside world about itself, as a workflow interceptor so
 * the workflows' own code stays about the task: search attributes (CcflowStatus, CcflowModel,
 * CcflowCostUsd, CcflowTurns, CcflowSandbox) for filtering runs, current details (Markdown in
 * Web UI) with the phase, cost and task description, a summary on every activity, and the
 * tasks started/succeeded/failed counters (workflow metrics are not emitted during replay).
 *
 * It learns everything from the activities it sees go by (the validated spec, the sandbox,
 * each agent run's turns and cost), so it also explains tasks started from the Temporal CLI,
 * which have no static summary. Bundled with the workflows (`workflowInterceptorModules`).
 */
import {
  ContinueAsNew,
  isCancellation,
  log,
  metricMeter,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { CreateSandboxInput, CreatedSandbox, DestroySandboxInput, RunClaudeInput, RunClaudeOutput } from '../schemas/activities.js';
import {
  CcflowCostUsd,
  CcflowModel,
  CcflowModelKeyInSandbox,
  CcflowSandbox,
  CcflowStatus,
  CcflowTurns,
  type TaskState,
} from './search-attributes.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import { WORKFLOW_TYPES } from '../domain/constants.js';
import { taskDetails, taskSummary } from '../domain/task-summary.js';
import type { OpenTask } from './agent-task.js';
import { failureType as classifiedType } from './failures.js';

/** A tool call the task holds for a human, as the current details show it. */
interface Waiting {
  toolName: string;
  input: string;
  rules: string[];
  since: number;
  sandboxReleased: boolean;
}

interface Observed {
  state: TaskState;
  waiting?: Waiting;
  activity?: string;
  spec?: TaskSpec;
  provider?: string;
  sandboxId?: string;
  runs: number;
  turns: number;
  costUsd: number;
  failure?: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A one-line summary per activity, for the event history and the pending activity view. */
export function activitySummary(activityType: string, args: readonly unknown[]): string | undefined {
  const arg = isRecord(args[0]) ? args[0] : {};
  switch (activityType) {
    case 'validateTaskSpec':
      return 'validate the task spec';
    case 'createSandbox':
      return `create a sandbox (${(arg as CreateSandboxInput).provider ?? "the worker's default provider"})`;
    case 'runClaude': {
      const run = arg as Partial<RunClaudeInput>;
      const model = run.model ? ` on ${run.model}` : '';
      if (run.approval?.decision) {
        const answer = run.approval.decision.decision === 'allow' ? 'allowed' : 'denied';
        return `${run.runName ?? 'run'}: resume session ${(run.resumeSessionId ?? '?').slice(0, 8)} with the held call ${answer}${model}`;
      }
      return run.resumeSessionId
        ? `${run.runName ?? 'run'}: resume session ${run.resumeSessionId.slice(0, 8)} to correct the result${model}`
        : `${run.runName ?? 'run'}: claude -p in sandbox ${run.sandboxId ?? '?'}${model}`;
    }
    case 'fetchResult':
      return 'read and validate the submitted result';
    case 'destroySandbox':
      return `save transcripts, destroy sandbox ${(arg as Partial<DestroySandboxInput>).sandboxId ?? '?'}`;
    default:
      return undefined;
  }
}

/** The Markdown shown as the workflow's current details. */
export function currentDetailsMarkdown(o: Observed, workflowId: string): string {
  const w = o.state === 'running' ? o.waiting : undefined;
  const doing = w ? ' · **waiting for approval**' : o.activity && o.state === 'running' ? ` · ${o.activity}` : '';
  const lines = [
    `**Status:** ${o.state}${doing}${o.failure ? ` · ${o.failure}` : ''}`,
    `**Turns:** ${o.turns} · **Cost:** $${o.costUsd.toFixed(4)} · **Agent runs:** ${o.runs}`,
  ];
  if (w) {
    lines.push(
      `**Waiting for approval** since ${new Date(w.since).toISOString()}: a \`${w.toolName}\` call${w.rules.length ? ` (rule ${w.rules.map((r) => `\`${r}\``).join(', ')})` : ''}`,
      `\`\`\`\n${w.input}\n\`\`\``,
      `No agent runs while it waits${w.sandboxReleased ? ', and its sandbox was saved and released (it is restored on the answer)' : ''}. ` +
        `Answer with \`ccflow approve ${workflowId}\` (\`--deny --reason "..."\` to refuse), or the \`approve\` Update.`,
    );
  }
  if (o.provider) lines.push(`**Sandbox:** ${o.provider}${o.sandboxId ? ` \`${o.sandboxId}\`` : ''}`);
  if (o.spec) lines.push(`**Task:** ${taskSummary(o.spec.prompt)}`, taskDetails(o.spec));
  if (o.state === 'running' && !w) {
    lines.push("Live progress (tool in use, latest text) is in the pending activity's heartbeat details, and in `ccflow watch`.");
  }
  return lines.join('\n\n');
}

function failureType(err: unknown): string {
  return classifiedType(err) ?? (err instanceof Error ? err.name : 'unknown');
}

function isOpenTask(v: unknown): v is OpenTask {
  return isRecord(v) && isRecord(v.status) && isRecord(v.spec);
}

/** A task that continued as new: what it had observed carries over. */
function resume(o: Observed, open: OpenTask): void {
  o.spec = open.spec;
  o.turns = open.status.numTurns;
  o.costUsd = open.status.totalCostUsd;
  o.runs = open.runCount;
  const current = open.sandboxes.at(-1)?.sandbox;
  if (current) {
    o.provider = current.provider;
    o.sandboxId = current.sandboxId;
  }
}

export const interceptors = (): WorkflowInterceptors => {
  const o: Observed = { state: 'running', runs: 0, turns: 0, costUsd: 0 };
  const publish = () => setCurrentDetails(currentDetailsMarkdown(o, workflowInfo().workflowId));

  const inbound: WorkflowInboundCallsInterceptor = {
    async execute(input, next) {
      const info = workflowInfo();
      // Pipelines have counters of their own; a task that continued as new is still one task.
      const kind = info.workflowType === WORKFLOW_TYPES.pipeline ? 'pipelines' : 'tasks';
      const open = input.args[1];
      if (info.continuedFromExecutionRunId !== undefined && isOpenTask(open)) resume(o, open);
      else metricMeter.createCounter(`ccflow_${kind}_started_total`, kind, `${kind} started`).add(1);
      upsertSearchAttributes([{ key: CcflowStatus, value: 'running' }]);
      publish();
      try {
        const result = await next(input);
        o.state = 'succeeded';
        return result;
      } catch (err) {
        if (err instanceof ContinueAsNew) throw err;
        o.state = isCancellation(err) ? 'cancelled' : 'failed';
        if (o.state === 'failed') o.failure = failureType(err);
        throw err;
      } finally {
        if (o.state !== 'running') {
          o.waiting = undefined;
          upsertSearchAttributes([{ key: CcflowStatus, value: o.state }]);
          o.activity = undefined;
          publish();
          const name = `ccflow_${kind}_${o.state}_total`;
          metricMeter.createCounter(name, kind, `${kind} ${o.state}`).add(1, o.failure ? { failure_type: o.failure } : {});
          log.info(`${kind === 'tasks' ? 'task' : 'pipeline'} ${o.state}`, {
            turns: o.turns,
            costUsd: o.costUsd,
            agentRuns: o.runs,
            ...(o.failure ? { failureType: o.failure } : {}),
          });
        }
      }
    },
  };

  // The `approve` Update ends a wait: the agent goes on from here.
  inbound.handleUpdate = async (input, next) => {
    const result = await next(input);
    if (input.name === 'approve') {
      o.waiting = undefined;
      publish();
    }
    return result;
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
      const summary = input.options.summary ?? activitySummary(input.activityType, input.args);
      o.activity = summary ?? input.activityType;
      // The next agent run is the answer at work (or the timeout's): nothing waits any more.
      if (input.activityType === 'runClaude') o.waiting = undefined;
      publish();
      const result = await next(summary ? { ...input, options: { ...input.options, summary } } : input);
      if (input.activityType === 'createSandbox' && isRecord(result)) {
        const created = result as unknown as CreatedSandbox;
        o.provider = created.provider;
        o.sandboxId = created.sandboxId;
        upsertSearchAttributes([{ key: CcflowSandbox, value: created.provider }]);
        // Marked where Web UI and `ccflow list` show it: this task's sandbox could read the key.
        if (created.modelKeyInSandbox === true) upsertSearchAttributes([{ key: CcflowModelKeyInSandbox, value: true }]);
      } else if (input.activityType === 'runClaude' && isRecord(result)) {
        const run = result as unknown as RunClaudeOutput;
        o.runs += 1;
        o.turns += typeof run.numTurns === 'number' ? run.numTurns : 0;
        o.costUsd += typeof run.costUsd === 'number' ? run.costUsd : 0;
        upsertSearchAttributes([
          { key: CcflowTurns, value: o.turns },
          { key: CcflowCostUsd, value: o.costUsd },
        ]);
        if (run.deferred) {
          const d = run.deferred;
          o.waiting = { toolName: d.toolName, input: d.input, rules: d.rules, since: Date.now(), sandboxReleased: false };
        }
      } else if (input.activityType === 'destroySandbox' && o.waiting) {
        o.waiting.sandboxReleased = true;
      }
      publish();
      return result;
    },

    async scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>) {
      const summary = input.options.summary ?? activitySummary(input.activityType, input.args);
      const result = await next(summary ? { ...input, options: { ...input.options, summary } } : input);
      if (input.activityType === 'validateTaskSpec' && isRecord(result) && typeof result.permissionMode === 'string') {
        o.spec = result as unknown as TaskSpec;
        upsertSearchAttributes([{ key: CcflowModel, value: o.spec.model ?? 'default' }]);
        publish();
      }
      return result;
    },
  };

  return { inbound: [inbound], outbound: [outbound] };
};
