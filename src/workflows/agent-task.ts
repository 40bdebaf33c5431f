import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  uuid4,
  workflowInfo,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CreatedSandbox, FetchedResult, RunClaudeOutput } from '../shared/activity-types.js';
import { NON_RETRYABLE_FAILURE_TYPES } from '../shared/failures.js';
import type { TaskResult, TaskSpec } from '../shared/task-spec.js';
import { correctivePromptText, taskPromptText } from '../shared/prompts.js';

export const TASK_QUEUE = 'ccflow';

export type TaskPhase = 'validating' | 'creating-sandbox' | 'running' | 'fetching-result' | 'correcting' | 'destroying-sandbox' | 'done' | 'failed';

export interface TaskRunRecord {
  runName: string;
  sessionId: string;
  numTurns: number;
  costUsd: number;
  subtype: string;
}

export interface TaskStatus {
  phase: TaskPhase;
  sandboxId?: string;
  sessionId?: string;
  runs: TaskRunRecord[];
  numTurns: number;
  totalCostUsd: number;
  resultAttempts: number;
  lastResultErrors?: string[];
}

export const statusQuery = defineQuery<TaskStatus>('status');

const retry: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
};

/** Quick sandbox bookkeeping calls. */
const shortCall = { startToCloseTimeout: '2m', retry } as const satisfies ActivityOptions;
/** The agent run: no start-to-close cap, only an overall deadline and a heartbeat. */
const agentRun = { scheduleToCloseTimeout: '24h', heartbeatTimeout: '60s', retry } as const satisfies ActivityOptions;

const { validateTaskSpec } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidTaskSpec'] },
});
const { createSandbox } = proxyActivities<Activities>({ ...shortCall, taskQueue: TASK_QUEUE });

/** Activities on one sandbox: a local sandbox pins them to the task queue of its host. */
function sandboxActivities(sandbox: CreatedSandbox) {
  const short = proxyActivities<Activities>({ ...shortCall, taskQueue: sandbox.taskQueue });
  const long = proxyActivities<Activities>({ ...agentRun, taskQueue: sandbox.taskQueue });
  return { runClaude: long.runClaude, fetchResult: short.fetchResult, destroySandbox: short.destroySandbox };
}

/**
 * One agent task: a sandbox, a Claude Code run that submits a structured result, corrective
 * resumes of the same session while the result is missing or invalid, and teardown always.
 */
export async function agentTask(input: unknown): Promise<TaskResult> {
  const startedAt = Date.now();
  const status: TaskStatus = { phase: 'validating', runs: [], numTurns: 0, totalCostUsd: 0, resultAttempts: 0 };
  setHandler(statusQuery, () => status);

  let spec: TaskSpec;
  try {
    spec = await validateTaskSpec(input);
  } catch (err) {
    throw surface(err, 'invalid task');
  }

  status.phase = 'creating-sandbox';
  const sandbox = await createSandbox({
    provider: spec.sandbox?.provider,
    timeoutSeconds: spec.sandbox?.timeoutSeconds,
    files: spec.files,
  });
  status.sandboxId = sandbox.sandboxId;
  const acts = sandboxActivities(sandbox);
  const runNames: string[] = [];

  const run = async (prompt: string, session: { resume: string } | { fresh: string }): Promise<RunClaudeOutput> => {
    const runName = `run-${runNames.length + 1}`;
    runNames.push(runName);
    const out = await acts.runClaude({
      sandboxId: sandbox.sandboxId,
      provider: sandbox.provider,
      runName,
      prompt,
      resultSchema: spec.resultSchema,
      permissionMode: spec.permissionMode,
      allowedTools: spec.allowedTools,
      model: spec.model,
      maxTurns: spec.maxTurns,
      maxBudgetUsd: spec.maxBudgetUsd,
      appendSystemPrompt: spec.appendSystemPrompt,
      ...('resume' in session ? { resumeSessionId: session.resume } : { newSessionId: session.fresh }),
    });
    // total_cost_usd is per process: the task's cost is the sum over its runs.
    status.runs.push({ runName, sessionId: out.sessionId, numTurns: out.numTurns, costUsd: out.costUsd, subtype: out.subtype });
    status.numTurns += out.numTurns;
    status.totalCostUsd += out.costUsd;
    status.sessionId = out.sessionId;
    return out;
  };

  let outcome: TaskResult | undefined;
  let failure: unknown;
  try {
    status.phase = 'running';
    let last = await run(taskPromptText(spec.prompt), { fresh: uuid4() });
    for (;;) {
      status.phase = 'fetching-result';
      status.resultAttempts += 1;
      const fetched: FetchedResult = await acts.fetchResult({
        sandboxId: sandbox.sandboxId,
        provider: sandbox.provider,
        resultSchema: spec.resultSchema,
      });
      if (fetched.status === 'valid') {
        outcome = {
          workflowId: workflowInfo().workflowId,
          result: fetched.result,
          sessionId: last.sessionId,
          numTurns: status.numTurns,
          totalCostUsd: status.totalCostUsd,
          durationMs: Date.now() - startedAt,
          sandboxId: sandbox.sandboxId,
          resultAttempts: status.resultAttempts,
        };
        break;
      }
      const errors = fetched.status === 'invalid' ? fetched.errors : ['no result was submitted'];
      status.lastResultErrors = errors;
      if (status.resultAttempts > spec.resultRetries) {
        throw ApplicationFailure.create({
          type: 'InvalidResult',
          nonRetryable: true,
          message: `no valid result after ${status.resultAttempts} agent run(s): ${errors.join('; ')}`,
          details: [{ errors, lastAttempt: fetched.lastAttempt, sessionId: last.sessionId }],
        });
      }
      status.phase = 'correcting';
      last = await run(correctivePromptText(fetched.status === 'invalid' ? { kind: 'invalid', errors } : { kind: 'missing' }), {
        resume: last.sessionId,
      });
    }
  } catch (err) {
    failure = err;
  }

  // Teardown runs whatever happened, cancellation included, and saves the transcripts first.
  status.phase = 'destroying-sandbox';
  const destroyed = await CancellationScope.nonCancellable(() =>
    acts.destroySandbox({ sandboxId: sandbox.sandboxId, provider: sandbox.provider, runNames }),
  );

  if (outcome) {
    status.phase = 'done';
    return { ...outcome, artifactsDir: destroyed.artifactsDir };
  }
  status.phase = 'failed';
  throw surface(failure, 'the task failed', destroyed.artifactsDir);
}

/**
 * Rethrows a failure so the workflow's own failure says what went wrong in one line, with the
 * classified type and details kept (an activity failure otherwise reads "Activity task failed").
 */
function surface(err: unknown, what: string, artifactsDir?: string): unknown {
  if (isCancellation(err)) return err;
  const app = err instanceof ActivityFailure ? err.cause : err;
  if (app instanceof ApplicationFailure) {
    const where = artifactsDir ? ` (transcripts: ${artifactsDir})` : '';
    return ApplicationFailure.create({
      type: app.type ?? 'AgentFailed',
      nonRetryable: true,
      message: `${what}: ${app.message}${where}`,
      details: [...(app.details ?? []), ...(artifactsDir ? [{ artifacts: artifactsDir }] : [])],
      cause: err instanceof ActivityFailure ? err : undefined,
    });
  }
  return err;
}
