import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  log,
  sleep,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  uuid4,
  workflowInfo,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CreatedSandbox, FetchedResult, RunClaudeOutput } from '../schemas/activities.js';
import { NON_RETRYABLE_FAILURE_TYPES, type FailureType } from '../domain/failures.js';
import type { TaskResult, TaskSpec, TaskTimeouts } from '../schemas/task-spec.js';
import { correctivePromptText, taskPromptText } from '../domain/prompts.js';
import type { TurnSummary } from '../schemas/task-spec.js';
import { FollowUps, type SandboxEntry, type TaskHooks, type Turn } from './follow-ups.js';

export const TASK_QUEUE = 'ccflow';

export type TaskPhase =
  | 'validating'
  | 'creating-sandbox'
  | 'running'
  | 'fetching-result'
  | 'correcting'
  | 'destroying-sandbox'
  | 'done'
  | 'failed'
  // follow-ups (see follow-ups.ts)
  | 'restoring-session'
  | 'saving-session'
  | 'open'
  | 'following-up'
  | 'closing';

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
  /** How often the task started over because its sandbox was lost. */
  sandboxRestarts?: number;
  /** Every turn: the task prompt, then each follow-up (queued ones included). */
  turns: TurnSummary[];
  /** While the task waits for follow-ups: when it closes unless one arrives (ms since epoch). */
  openUntil?: number;
  /** The task this one continues (continueFrom). */
  continuedFrom?: string;
  /** Why the last session save failed, if it did. */
  sessionSaveError?: string;
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
/** How often the workflow starts over in a fresh sandbox when one is lost under the agent. */
const MAX_SANDBOX_RESTARTS = 2;

const { validateTaskSpec } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidTaskSpec'] },
});
const { createSandbox } = proxyActivities<Activities>({ ...shortCall, taskQueue: TASK_QUEUE });

/**
 * Activities on one sandbox: a local sandbox pins them to the task queue of its host. The
 * agent run has no start-to-close cap: only the task's deadline and a heartbeat timeout, and
 * a cancellation waits until the agent's processes are really killed.
 */
function sandboxActivities(sandbox: CreatedSandbox, timeouts: TaskTimeouts) {
  const short = proxyActivities<Activities>({ ...shortCall, taskQueue: sandbox.taskQueue });
  const long = proxyActivities<Activities>({
    taskQueue: sandbox.taskQueue,
    scheduleToCloseTimeout: `${timeouts.taskSeconds}s`,
    heartbeatTimeout: `${timeouts.heartbeatSeconds}s`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
  return { runClaude: long.runClaude, fetchResult: short.fetchResult, destroySandbox: short.destroySandbox };
}

/**
 * One agent task: a sandbox, a Claude Code run that submits a structured result, corrective
 * resumes of the same session while the result is missing or invalid, and teardown always.
 */
export async function agentTask(input: unknown): Promise<TaskResult> {
  const startedAt = Date.now();
  const status: TaskStatus = { phase: 'validating', runs: [], turns: [], numTurns: 0, totalCostUsd: 0, resultAttempts: 0 };
  setHandler(statusQuery, () => status);
  // Registered first, so a follow-up sent while the first turn runs is queued, not refused.
  const followUps = new FollowUps(status);

  let spec: TaskSpec;
  try {
    spec = await validateTaskSpec(input);
  } catch (err) {
    throw surface(err, 'invalid task');
  }

  const sandboxes: Array<{ sandbox: CreatedSandbox; runNames: string[] }> = [];
  let runCount = 0;

  /** Runs one turn (the task prompt unless given) in one sandbox until a valid result, or throws. */
  const runInSandbox = async (sandbox: CreatedSandbox, runNames: string[], turn?: Turn): Promise<TaskResult> => {
    const acts = sandboxActivities(sandbox, spec.timeouts);
    const t: Turn = turn ?? { prompt: taskPromptText(spec.prompt), session: { fresh: uuid4() }, resultSchema: spec.resultSchema };
    const attemptsBefore = status.resultAttempts;
    const run = async (prompt: string, session: { resume: string } | { fresh: string }): Promise<RunClaudeOutput> => {
      const runName = `run-${++runCount}`;
      runNames.push(runName);
      const out = await acts.runClaude({
        sandboxId: sandbox.sandboxId,
        provider: sandbox.provider,
        runName,
        prompt,
        resultSchema: t.resultSchema,
        permissionMode: spec.permissionMode,
        allowedTools: spec.allowedTools,
        model: spec.model,
        maxTurns: spec.maxTurns,
        maxBudgetUsd: spec.maxBudgetUsd === undefined ? undefined : spec.maxBudgetUsd - status.totalCostUsd,
        appendSystemPrompt: spec.appendSystemPrompt,
        stallSeconds: spec.timeouts.stallSeconds,
        ...('resume' in session ? { resumeSessionId: session.resume } : { newSessionId: session.fresh }),
      });
      // total_cost_usd is per process: the task's cost is the sum over its runs.
      status.runs.push({ runName, sessionId: out.sessionId, numTurns: out.numTurns, costUsd: out.costUsd, subtype: out.subtype });
      status.numTurns += out.numTurns;
      status.totalCostUsd += out.costUsd;
      status.sessionId = out.sessionId;
      return out;
    };

    status.phase = 'running';
    let last = await run(t.prompt, t.session);
    for (;;) {
      status.phase = 'fetching-result';
      status.resultAttempts += 1;
      const fetched: FetchedResult = await acts.fetchResult({
        sandboxId: sandbox.sandboxId,
        provider: sandbox.provider,
        resultSchema: t.resultSchema,
      });
      if (fetched.status === 'valid') {
        return {
          workflowId: workflowInfo().workflowId,
          result: fetched.result,
          sessionId: last.sessionId,
          numTurns: status.numTurns,
          totalCostUsd: status.totalCostUsd,
          durationMs: Date.now() - startedAt,
          sandboxId: sandbox.sandboxId,
          resultAttempts: status.resultAttempts,
        };
      }
      const errors = fetched.status === 'invalid' ? fetched.errors : ['no result was submitted'];
      status.lastResultErrors = errors;
      if (status.resultAttempts - attemptsBefore > spec.resultRetries) {
        throw ApplicationFailure.create({
          type: 'InvalidResult' satisfies FailureType,
          nonRetryable: true,
          message: `no valid result after ${status.resultAttempts - attemptsBefore} agent run(s): ${errors.join('; ')}`,
          details: [{ errors, lastAttempt: fetched.lastAttempt, sessionId: last.sessionId }],
        });
      }
      if (spec.maxBudgetUsd !== undefined && status.totalCostUsd >= spec.maxBudgetUsd) {
        throw ApplicationFailure.create({
          type: 'BudgetExceeded' satisfies FailureType,
          nonRetryable: true,
          message: `the task spent $${status.totalCostUsd.toFixed(4)} of its $${spec.maxBudgetUsd} budget without a valid result`,
          details: [{ errors, lastAttempt: fetched.lastAttempt, sessionId: last.sessionId }],
        });
      }
      status.phase = 'correcting';
      last = await run(correctivePromptText(fetched.status === 'invalid' ? { kind: 'invalid', errors } : { kind: 'missing' }), {
        resume: last.sessionId,
      });
    }
  };

  /** Creates a sandbox and runs in it; a sandbox lost under the agent means a fresh start. */
  const runTask = async (): Promise<TaskResult> => {
    for (let restart = 0; ; restart++) {
      status.phase = 'creating-sandbox';
      const sandbox = await createSandbox({
        provider: spec.sandbox?.provider,
        timeoutSeconds: spec.sandbox?.timeoutSeconds,
        files: spec.files,
      });
      const entry = { sandbox, runNames: [] as string[] };
      sandboxes.push(entry);
      status.sandboxId = sandbox.sandboxId;
      try {
        // A continued task starts from the earlier task's saved session and workspace.
        const first = spec.continueFrom
          ? await followUps.restoreFirst(entry, spec.continueFrom, uuid4(), taskPromptText(spec.prompt), spec.resultSchema)
          : undefined;
        return await runInSandbox(sandbox, entry.runNames, first);
      } catch (err) {
        if (restart < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') {
          log.warn('sandbox lost under the agent; starting over in a fresh sandbox', { sandboxId: sandbox.sandboxId });
          status.sandboxRestarts = restart + 1;
          continue;
        }
        throw err;
      }
    }
  };

  // The task's wall-clock limit: past it, the work is cancelled (killing the agent) and the
  // task fails with TaskTimedOut after teardown.
  let timedOut = false;
  const work = new CancellationScope();
  const deadline = CancellationScope.cancellable(() =>
    sleep(`${spec.timeouts.taskSeconds}s`).then(() => {
      timedOut = true;
      work.cancel();
    }),
  );
  deadline.catch(() => undefined);

  // After the first result the task stays open for follow-ups (keepAliveSeconds, follow-ups.ts).
  const hooks: TaskHooks = {
    spec,
    current: () => sandboxes[sandboxes.length - 1] as SandboxEntry,
    newSandbox: async () => {
      status.phase = 'creating-sandbox';
      const sandbox = await createSandbox({ provider: spec.sandbox?.provider, timeoutSeconds: spec.sandbox?.timeoutSeconds });
      const entry = { sandbox, runNames: [] as string[] };
      sandboxes.push(entry);
      status.sandboxId = sandbox.sandboxId;
      return entry;
    },
    runTurn: (entry, turn) => runInSandbox(entry.sandbox, entry.runNames, turn),
  };

  let outcome: TaskResult | undefined;
  let failure: unknown;
  try {
    outcome = await work.run(async () => followUps.serve(await runTask(), hooks));
  } catch (err) {
    failure = err;
    followUps.end('the task failed');
    // Saved even so (best effort), so `ccflow followup` can continue a failed task.
    await CancellationScope.nonCancellable(() => followUps.saveAfterFailure(sandboxes[sandboxes.length - 1]));
  }

  // Teardown runs whatever happened, cancellation included, and saves the transcripts first.
  status.phase = 'destroying-sandbox';
  let artifactsDir: string | undefined;
  await CancellationScope.nonCancellable(async () => {
    for (const { sandbox, runNames } of sandboxes) {
      try {
        const destroyed = await sandboxActivities(sandbox, spec.timeouts).destroySandbox({
          sandboxId: sandbox.sandboxId,
          provider: sandbox.provider,
          runNames,
        });
        artifactsDir = destroyed.artifactsDir;
      } catch (err) {
        // Keep the task's own outcome; the sweeper removes what teardown could not.
        log.error('sandbox teardown failed', { sandboxId: sandbox.sandboxId, error: String(err) });
      }
    }
  });

  if (outcome) {
    status.phase = 'done';
    return { ...outcome, artifactsDir };
  }
  status.phase = 'failed';
  if (timedOut) {
    throw ApplicationFailure.create({
      type: 'TaskTimedOut' satisfies FailureType,
      nonRetryable: true,
      message: `the task ran longer than its limit of ${spec.timeouts.taskSeconds} s${artifactsDir ? ` (transcripts: ${artifactsDir})` : ''}`,
      details: [{ numTurns: status.numTurns, totalCostUsd: status.totalCostUsd, sessionId: status.sessionId, artifacts: artifactsDir }],
    });
  }
  throw surface(failure, 'the task failed', artifactsDir);
}

/** The ApplicationFailure type behind an activity failure, if any. */
function failureType(err: unknown): string | undefined {
  const app = err instanceof ActivityFailure ? err.cause : err;
  return app instanceof ApplicationFailure ? (app.type ?? undefined) : undefined;
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
