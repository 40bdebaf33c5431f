import {
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { FollowUpResult, TaskStatus } from '../schemas/messages.js';
import type { CapturedChanges, PushRecord } from '../schemas/git.js';
import type { TaskResult, TaskSpec, TurnSummary } from '../schemas/task-spec.js';
import { validation } from './activities.js';
import { ApprovalGate } from './approval-gate.js';
import { asUpdateFailure, describeFailure, surface } from './failures.js';
import { FollowUpInbox, MAX_PROMPT_RECORD, type FollowUpTicket } from './follow-up-inbox.js';
import { statusQuery } from './messages.js';
import { SandboxPool, type SandboxEntry } from './sandbox-pool.js';
import { TaskRepo } from './task-repo.js';
import { TaskSession, type TurnOutcome } from './task-session.js';

/** The patch id that marks tasks which save their session and serve follow-ups. */
export const SESSION_PERSISTENCE_PATCH = 'ccflow-session-persistence';

/**
 * An open task continues as a new run once its history is this long, so a task open for
 * weeks with hundreds of follow-ups replays fast and never meets Temporal's history limits.
 */
export const HISTORY_EVENTS_BEFORE_CONTINUE = 2_000;
/** Turns and runs a continued task keeps in its status (its totals count all of them). */
const KEPT_RECORDS = 100;

/** What an open task hands to the run it continues as (continueAsNew). */
export interface OpenTask {
  spec: TaskSpec;
  status: TaskStatus;
  sandboxes: SandboxEntry[];
  runCount: number;
  startedAt: number;
}

/** The task's result so far, from its status and the last turn. */
function resultOf(status: TaskStatus, last: TurnOutcome, startedAt: number, repo: TaskRepo): TaskResult {
  return {
    ...repo.result(),
    workflowId: workflowInfo().workflowId,
    result: last.result,
    sessionId: last.sessionId,
    numTurns: status.numTurns,
    totalCostUsd: status.totalCostUsd,
    durationMs: Date.now() - startedAt,
    sandboxId: last.entry.sandbox.sandboxId,
    resultAttempts: status.resultAttempts,
    hostRestarts: status.hostRestarts ?? 0,
  };
}

function record(target: TurnSummary, out: TurnOutcome, changes?: CapturedChanges, pushed?: PushRecord): void {
  Object.assign(target, {
    ...(changes ? { changes: changes.turn } : {}),
    ...(pushed ? { push: pushed } : {}),
    result: out.result,
    sessionId: out.sessionId,
    sandboxId: out.entry.sandbox.sandboxId,
    numTurns: out.numTurns,
    costUsd: out.costUsd,
    durationMs: out.durationMs,
    ...(out.restored ? { restored: true } : {}),
  });
}

/**
 * One agent task: a session of turns in a sandbox. The first turn is the task's prompt; while
 * the task stays open (keepAliveSeconds) every follow-up is another turn of the same session.
 * Each turn runs until the agent submits a valid result (corrective resumes included). The
 * sandboxes are torn down whatever happens, and a task open for long continues as new.
 *
 * `open` is only passed by the task itself when it continues as new.
 */
export async function agentTask(input: unknown, open?: OpenTask): Promise<TaskResult> {
  const status: TaskStatus = open?.status ?? { phase: 'validating', runs: [], turns: [], numTurns: 0, totalCostUsd: 0, resultAttempts: 0 };
  setHandler(statusQuery, () => status);
  // Turn 1 is the task's prompt, even when follow-ups arrive before it is validated.
  const firstRecord: TurnSummary = { turn: 1, prompt: '', numTurns: 0, costUsd: 0, durationMs: 0 };
  if (!open) status.turns.push(firstRecord);
  // Registered first, so a follow-up sent while the first turn runs is queued, not refused.
  const inbox = new FollowUpInbox(status);
  const approvals = new ApprovalGate(status);

  let spec: TaskSpec;
  try {
    spec = open?.spec ?? (await validation.validateTaskSpec(input));
  } catch (err) {
    throw surface(err, 'invalid task');
  }
  const startedAt = open?.startedAt ?? Date.now();
  approvals.configure(spec);
  const pool = new SandboxPool(spec, open?.sandboxes);
  const repo = new TaskRepo(spec, status);
  const session = new TaskSession(spec, status, pool, approvals, repo, open?.runCount);

  // The task's wall-clock limit: past it the work is cancelled (killing the agent) and the
  // task fails with TaskTimedOut after teardown. Time spent waiting for a human's answer does
  // not count: it costs nothing, and approval.timeoutSeconds bounds it.
  let timedOut = false;
  const work = new CancellationScope();
  const deadline = CancellationScope.cancellable(async () => {
    const limitMs = spec.timeouts.taskSeconds * 1000;
    if (spec.approval) await deadlinePassed(startedAt, limitMs, approvals);
    else await sleep(startedAt + limitMs - Date.now());
    timedOut = true;
    work.cancel();
  });
  deadline.catch(() => undefined);

  let last: TurnOutcome | undefined;
  let serving = open !== undefined;
  let continueAs: OpenTask | undefined;
  let failure: unknown;
  try {
    await work.run(async () => {
      const prompt = spec.prompt;
      if (!open && prompt === undefined) {
        // No prompt: the session opens idle, and its first follow-up is turn 1.
        status.turns.splice(status.turns.indexOf(firstRecord), 1);
        for (const t of status.turns) t.turn -= 1;
        serving = true;
        await session.openIdle();
      } else if (!open && prompt !== undefined) {
        firstRecord.prompt = prompt.slice(0, MAX_PROMPT_RECORD);
        last = await session.first();
        // The turn's commit goes into the saved workspace, so it is captured before the save.
        const changes = await repo.capture(pool.activities(last.entry), refOf(last), 1, prompt);
        // Histories from before sessions were saved go straight to teardown, as they did then.
        if (!patched(SESSION_PERSISTENCE_PATCH)) {
          record(firstRecord, last, changes);
          return;
        }
        serving = true;
        await session.save(last.entry, last.sessionId, 1);
        const pushed = await repo.push(pool.activities(last.entry));
        // Recorded last: whoever waits for turn 1 (ccflow run --keep-alive) sees its push too.
        record(firstRecord, last, changes, pushed);
      }
      inbox.open();
      // The turn loop: each follow-up in order, until the window passes or `close` arrives.
      for (let ticket = await inbox.next(spec.keepAliveSeconds * 1000); ticket; ticket = await inbox.next(spec.keepAliveSeconds * 1000)) {
        last = (await runFollowUp(ticket)) ?? last;
        if (!inbox.pending && !inbox.closing && historyIsLong()) {
          await condition(allHandlersFinished);
          continueAs = { spec, status: trimmed(status), sandboxes: pool.entries, runCount: session.runs, startedAt };
          return;
        }
      }
      await condition(allHandlersFinished);
    });
  } catch (err) {
    failure = err;
    inbox.end(isCancellation(err) ? 'the task was cancelled' : 'the task failed');
    // Saved even so (best effort), so `ccflow followup` can continue a failed task.
    const entry = pool.current;
    if (!serving && entry && status.sessionId && patched(SESSION_PERSISTENCE_PATCH)) {
      await CancellationScope.nonCancellable(() => session.save(entry, status.sessionId as string, 1));
    }
  }
  inbox.end('the task finished');

  if (continueAs) return continueAsNew<typeof agentTask>(input, continueAs);

  // Teardown runs whatever happened, cancellation included, and saves the transcripts first.
  status.phase = 'destroying-sandbox';
  const artifactsDir = await pool.teardown();

  if (failure === undefined && last) {
    status.phase = 'done';
    const result = resultOf(status, last, startedAt, repo);
    if (!serving) return { ...result, artifactsDir };
    return {
      ...result,
      durationMs: status.turns.reduce((sum, t) => sum + t.durationMs, 0),
      artifactsDir,
      turns: status.turns,
      ...(status.continuedFrom ? { continuedFrom: status.continuedFrom } : {}),
    };
  }
  if (failure === undefined && serving) {
    // An open session whose every turn failed, or that closed before its first prompt.
    status.phase = 'done';
    return {
      workflowId: workflowInfo().workflowId,
      result: {},
      sessionId: status.sessionId ?? '',
      numTurns: status.numTurns,
      totalCostUsd: status.totalCostUsd,
      durationMs: status.turns.reduce((sum, t) => sum + t.durationMs, 0),
      sandboxId: status.sandboxId ?? '',
      resultAttempts: status.resultAttempts,
      artifactsDir,
      turns: status.turns,
      ...(status.continuedFrom ? { continuedFrom: status.continuedFrom } : {}),
    };
  }
  status.phase = 'failed';
  if (timedOut) {
    throw ApplicationFailure.create({
      type: 'TaskTimedOut',
      nonRetryable: true,
      message: `the task ran longer than its limit of ${spec.timeouts.taskSeconds} s${artifactsDir ? ` (transcripts: ${artifactsDir})` : ''}`,
      details: [{ numTurns: status.numTurns, totalCostUsd: status.totalCostUsd, sessionId: status.sessionId, artifacts: artifactsDir }],
    });
  }
  throw surface(failure, 'the task failed', artifactsDir);

  /** Runs one follow-up turn and answers its Update; a failed turn leaves the task open. */
  async function runFollowUp(ticket: FollowUpTicket): Promise<TurnOutcome | undefined> {
    const startedTurn = Date.now();
    const before = { numTurns: status.numTurns, costUsd: status.totalCostUsd };
    try {
      const out = await session.followUp(ticket.input, ticket.liveKey, ticket.record.turn);
      const changes = await repo.capture(pool.activities(out.entry), refOf(out), ticket.record.turn, ticket.input.prompt);
      await session.save(out.entry, out.sessionId, ticket.record.turn);
      const pushed = await repo.push(pool.activities(out.entry));
      record(ticket.record, out, changes, pushed);
      ticket.resolve({
        ...followUpResult(ticket.record.turn, out),
        ...(changes ? { changes: changes.turn } : {}),
        ...(pushed ? { push: pushed } : {}),
      });
      return out;
    } catch (err) {
      Object.assign(ticket.record, {
        error: describeFailure(err),
        numTurns: status.numTurns - before.numTurns,
        costUsd: status.totalCostUsd - before.costUsd,
        durationMs: Date.now() - startedTurn,
      });
      ticket.reject(isCancellation(err) ? err : asUpdateFailure(err));
      if (isCancellation(err)) throw err;
      return undefined;
    } finally {
      status.phase = inbox.closing ? 'closing' : 'open';
    }
  }

  function followUpResult(turn: number, out: TurnOutcome): FollowUpResult {
    return {
      workflowId: workflowInfo().workflowId,
      turn,
      result: out.result,
      sessionId: out.sessionId,
      sandboxId: out.entry.sandbox.sandboxId,
      numTurns: out.numTurns,
      costUsd: out.costUsd,
      durationMs: out.durationMs,
      totalNumTurns: status.numTurns,
      totalCostUsd: status.totalCostUsd,
      restored: out.restored,
    };
  }
}

/** Resolves once the task has worked `limitMs` since `startedAt`, not counting time spent waiting for approvals. */
async function deadlinePassed(startedAt: number, limitMs: number, approvals: ApprovalGate): Promise<void> {
  for (;;) {
    if (approvals.waiting) {
      await condition(() => !approvals.waiting);
      continue;
    }
    const left = startedAt + limitMs + approvals.waitedMs - Date.now();
    if (left <= 0) return;
    if (!(await condition(() => approvals.waiting, left))) return;
  }
}

function refOf(out: TurnOutcome): { sandboxId: string; provider: TurnOutcome['entry']['sandbox']['provider'] } {
  return { sandboxId: out.entry.sandbox.sandboxId, provider: out.entry.sandbox.provider };
}

function historyIsLong(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= HISTORY_EVENTS_BEFORE_CONTINUE;
}

/** The status a continued run starts from: totals kept, the oldest records dropped. */
function trimmed(status: TaskStatus): TaskStatus {
  return { ...status, turns: status.turns.slice(-KEPT_RECORDS), runs: status.runs.slice(-KEPT_RECORDS), openUntil: undefined };
}
