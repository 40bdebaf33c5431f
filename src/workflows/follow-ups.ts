import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { CreatedSandbox } from '../schemas/activities.js';
import { NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import { taskPromptText } from '../domain/prompts.js';
import type { ContinueFrom, TaskResult, TaskSpec, TurnSummary } from '../schemas/task-spec.js';

/**
 * Follow-ups: a task that stays open after its result (keepAliveSeconds) takes more prompts
 * through the `followUp` Update. Each runs `claude --resume <session>` in the same sandbox, or,
 * when that sandbox is gone, in a new one where the saved session and workspace are restored.
 * Follow-ups queue and run one at a time; the keep-alive window restarts after each; the
 * `close` signal ends the task early.
 */

/** What a follow-up carries. */
export interface FollowUpInput {
  prompt: string;
  /** The result format of this turn; the task's resultSchema when absent. */
  resultSchema?: Record<string, unknown>;
}

/** What a follow-up returns: this turn's validated result and the task's running totals. */
export interface FollowUpResult {
  workflowId: string;
  turn: number;
  result: Record<string, unknown>;
  sessionId: string;
  sandboxId: string;
  /** This turn's agent turns, cost and duration. */
  numTurns: number;
  costUsd: number;
  durationMs: number;
  /** The whole task's, all turns so far. */
  totalNumTurns: number;
  totalCostUsd: number;
  /** The sandbox was gone: the session was restored into a new one for this turn. */
  restored: boolean;
}

/** The failure type of a follow-up refused because the task is closing or closed. */
export const TASK_CLOSING = 'TaskClosing';

export const followUpUpdate = defineUpdate<FollowUpResult, [FollowUpInput]>('followUp');
export const closeSignal = defineSignal('close');

/** A turn as the task's turn loop runs it. */
export interface Turn {
  prompt: string;
  session: { resume: string } | { fresh: string };
  resultSchema: Record<string, unknown>;
}

/** One sandbox of the task and the agent runs made in it (teardown archives them). */
export interface SandboxEntry {
  sandbox: CreatedSandbox;
  runNames: string[];
}

/** The part of the task's status follow-ups keep up to date. */
export interface FollowUpStatus {
  phase: string;
  sandboxId?: string;
  sessionId?: string;
  numTurns: number;
  totalCostUsd: number;
  resultAttempts: number;
  /** Every turn: the task prompt, then each follow-up (queued ones included). */
  turns: TurnSummary[];
  /** While the task waits for follow-ups: when it closes unless one arrives (ms since epoch). */
  openUntil?: number;
  /** The task this one continues (continueFrom). */
  continuedFrom?: string;
  /** Why the last session save failed, if it did (a later restore would then fail). */
  sessionSaveError?: string;
}

/** What the agentTask workflow lends the follow-up machinery. */
export interface TaskHooks {
  spec: TaskSpec;
  /** The sandbox the task works in now. */
  current(): SandboxEntry;
  /** A new, empty sandbox that becomes the current one (and is torn down with the task). */
  newSandbox(): Promise<SandboxEntry>;
  /** Runs one turn (and its corrective resumes) in a sandbox until a valid result, or throws. */
  runTurn(entry: SandboxEntry, turn: Turn): Promise<TaskResult>;
}

/** The patch id that marks tasks which save their session and serve follow-ups. */
export const SESSION_PERSISTENCE_PATCH = 'ccflow-session-persistence';

const MAX_PROMPT_RECORD = 2_000;
const MAX_PROMPT_CHARS = 200_000;
/** How often a follow-up starts over in a fresh sandbox when its sandbox is lost under it. */
const MAX_SANDBOX_RESTARTS = 2;

/** Saving and restoring move a workspace tarball: allow minutes, with heartbeats. */
const sessionCall = {
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumAttempts: 4,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
  },
} as const satisfies ActivityOptions;

function sessionActivities(sandbox: CreatedSandbox) {
  return proxyActivities<Activities>({ ...sessionCall, taskQueue: sandbox.taskQueue });
}

/** Checks a follow-up before it is accepted (an Update validator: deterministic, no I/O). */
export function checkFollowUpInput(input: unknown): asserts input is FollowUpInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('a follow-up is an object: {"prompt": "...", "resultSchema"?: {...}}');
  }
  const { prompt, resultSchema, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new Error(`${unknown.join(', ')}: unknown field (a follow-up has prompt and resultSchema)`);
  if (typeof prompt !== 'string' || prompt.trim() === '') throw new Error('prompt: must be a non-empty string');
  if (prompt.length > MAX_PROMPT_CHARS) throw new Error(`prompt: longer than ${MAX_PROMPT_CHARS} characters`);
  if (resultSchema !== undefined) {
    if (typeof resultSchema !== 'object' || resultSchema === null || Array.isArray(resultSchema)) {
      throw new Error('resultSchema: must be a JSON Schema object with "type": "object"');
    }
    const s = resultSchema as Record<string, unknown>;
    if (s.type !== 'object') throw new Error('resultSchema: must be a JSON Schema object with "type": "object"');
    if (s.properties !== undefined && (typeof s.properties !== 'object' || s.properties === null || Array.isArray(s.properties))) {
      throw new Error('resultSchema: "properties" must be an object mapping names to JSON Schemas');
    }
  }
}

type QueueState = 'starting' | 'open' | 'closing' | 'ended';

/**
 * The follow-up queue of one task. Constructed at the very start of the workflow, so an Update
 * that arrives while the first turn still runs is accepted and waits its turn.
 */
export class FollowUps {
  private state: QueueState = 'starting';
  private closeRequested = false;
  private nextTicket = 0;
  private serving = 0;
  private hooks?: TaskHooks;
  private scope?: CancellationScope;
  private endReason = '';
  private lastResult?: { result: Record<string, unknown>; sessionId: string; sandboxId: string };

  constructor(private readonly status: FollowUpStatus) {
    setHandler(closeSignal, () => {
      this.closeRequested = true;
    });
    setHandler(followUpUpdate, (input) => this.enqueue(input), {
      validator: (input) => {
        checkFollowUpInput(input);
        if (this.state === 'closing' || this.state === 'ended' || this.closeRequested) {
          // A typed failure, so a client can tell "closing" apart and continue in a new task.
          throw ApplicationFailure.create({
            type: TASK_CLOSING,
            nonRetryable: true,
            message:
              `task ${workflowInfo().workflowId} is ${this.state === 'ended' ? 'finished' : 'closing'} and takes no more follow-ups; ` +
              '`ccflow followup` continues it in a new task',
          });
        }
      },
    });
  }

  /**
   * Restores an earlier task's session into the first sandbox; returns the first turn to run
   * there (resuming that session, or a fresh one for a workspace-only restore).
   */
  async restoreFirst(entry: SandboxEntry, from: ContinueFrom, fresh: string, prompt: string, resultSchema: Record<string, unknown>): Promise<Turn> {
    this.status.phase = 'restoring-session';
    this.status.continuedFrom = from.workflowId;
    upsertMemo({ continuedFrom: from.workflowId });
    const restored = await sessionActivities(entry.sandbox).restoreSession({
      sandboxId: entry.sandbox.sandboxId,
      provider: entry.sandbox.provider,
      fromWorkflowId: from.workflowId,
      sessionId: from.sessionId,
      workspaceOnly: from.workspaceOnly,
    });
    return { prompt, resultSchema, session: from.workspaceOnly ? { fresh } : { resume: restored.sessionId } };
  }

  /**
   * After the task's first valid result: saves the session, then serves follow-ups until the
   * keep-alive window passes without one or `close` arrives. Returns the task's final result.
   */
  async serve(first: TaskResult, hooks: TaskHooks): Promise<TaskResult> {
    // Histories from before sessions were saved go straight to teardown, as they did then.
    if (!patched(SESSION_PERSISTENCE_PATCH)) {
      this.state = 'ended';
      return first;
    }
    this.hooks = hooks;
    this.scope = CancellationScope.current();
    const firstTurn: TurnSummary = {
      turn: 1,
      prompt: hooks.spec.prompt.slice(0, MAX_PROMPT_RECORD),
      result: first.result,
      sessionId: first.sessionId,
      sandboxId: first.sandboxId,
      numTurns: first.numTurns,
      costUsd: first.totalCostUsd,
      durationMs: first.durationMs,
    };
    // Turn 1 comes first even when follow-ups were queued while it ran.
    this.status.turns.unshift(firstTurn);
    this.status.turns.forEach((t, i) => (t.turn = i + 1));
    this.lastResult = { result: first.result, sessionId: first.sessionId, sandboxId: first.sandboxId };
    await this.save(hooks.current(), first.sessionId, 1);

    this.state = 'open';
    const keepAliveMs = hooks.spec.keepAliveSeconds * 1000;
    while (keepAliveMs > 0 && !this.closeRequested) {
      this.status.phase = 'open';
      this.status.openUntil = Date.now() + keepAliveMs;
      const woke = await condition(() => this.closeRequested || this.pending() > 0, keepAliveMs);
      this.status.openUntil = undefined;
      if (!woke || this.closeRequested) break;
      // The window restarts once the queue is empty again.
      await condition(() => this.pending() === 0 || this.closeRequested);
    }
    this.state = 'closing';
    this.status.openUntil = undefined;
    // Follow-ups already accepted still run.
    await condition(() => this.pending() === 0);
    await condition(allHandlersFinished);
    this.state = 'ended';

    const last = this.lastResult;
    return {
      ...first,
      result: last.result,
      sessionId: last.sessionId,
      sandboxId: last.sandboxId,
      numTurns: this.status.numTurns,
      totalCostUsd: this.status.totalCostUsd,
      durationMs: this.status.turns.reduce((sum, t) => sum + t.durationMs, 0),
      resultAttempts: this.status.resultAttempts,
      turns: this.status.turns,
      ...(this.status.continuedFrom ? { continuedFrom: this.status.continuedFrom } : {}),
    };
  }

  /** The task ended without serving (its first turn failed): queued follow-ups are refused. */
  end(reason: string): void {
    this.state = 'ended';
    this.endReason = reason;
  }

  /**
   * After a failed first turn: saves what the session got to, best effort, so `ccflow followup`
   * can continue the task (e.g. to tell the agent what went wrong).
   */
  async saveAfterFailure(entry: SandboxEntry | undefined): Promise<void> {
    const sessionId = this.status.sessionId;
    // Once serving, every finished turn was saved already.
    if (this.hooks || !entry || !sessionId || !patched(SESSION_PERSISTENCE_PATCH)) return;
    await this.save(entry, sessionId, 1);
  }

  private pending(): number {
    return this.nextTicket - this.serving;
  }

  private async enqueue(input: FollowUpInput): Promise<FollowUpResult> {
    const ticket = this.nextTicket++;
    const record: TurnSummary = {
      turn: this.status.turns.length + 1,
      prompt: input.prompt.slice(0, MAX_PROMPT_RECORD),
      numTurns: 0,
      costUsd: 0,
      durationMs: 0,
    };
    this.status.turns.push(record);
    try {
      await condition(() => this.state === 'ended' || (this.hooks !== undefined && this.serving === ticket));
      if (this.state === 'ended' || !this.hooks || !this.scope) {
        throw ApplicationFailure.create({
          type: 'TaskClosed',
          nonRetryable: true,
          message: `the task ended before this follow-up ran${this.endReason ? `: ${this.endReason}` : ''}`,
        });
      }
      const hooks = this.hooks;
      return await this.scope.run(() => this.runFollowUp(hooks, input, record));
    } finally {
      this.serving++;
    }
  }

  private async runFollowUp(hooks: TaskHooks, input: FollowUpInput, record: TurnSummary): Promise<FollowUpResult> {
    const status = this.status;
    const startedAt = Date.now();
    const before = { numTurns: status.numTurns, costUsd: status.totalCostUsd };
    const sessionId = status.sessionId;
    if (!sessionId) throw ApplicationFailure.create({ type: 'SessionNotFound', nonRetryable: true, message: 'the task has no session to resume' });
    const turn: Turn = {
      prompt: taskPromptText(input.prompt),
      session: { resume: sessionId },
      resultSchema: input.resultSchema ?? hooks.spec.resultSchema,
    };
    let restored = false;
    try {
      for (let restart = 0; ; restart++) {
        status.phase = 'following-up';
        let entry = hooks.current();
        const { alive } = await sessionActivities(entry.sandbox).probeSandbox({
          sandboxId: entry.sandbox.sandboxId,
          provider: entry.sandbox.provider,
        });
        if (alive) {
          await sessionActivities(entry.sandbox).clearResult({ sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider });
        } else {
          log.info('the sandbox is gone; restoring the session into a new one', { sandboxId: entry.sandbox.sandboxId });
          entry = await hooks.newSandbox();
          status.phase = 'restoring-session';
          await sessionActivities(entry.sandbox).restoreSession({
            sandboxId: entry.sandbox.sandboxId,
            provider: entry.sandbox.provider,
            fromWorkflowId: workflowInfo().workflowId,
            sessionId,
          });
          restored = true;
          status.phase = 'following-up';
        }
        record.sandboxId = entry.sandbox.sandboxId;
        record.restored = restored || undefined;
        let out: TaskResult;
        try {
          out = await hooks.runTurn(entry, turn);
        } catch (err) {
          if (restart < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') continue;
          throw err;
        }
        await this.save(entry, out.sessionId, record.turn);
        record.result = out.result;
        record.sessionId = out.sessionId;
        this.lastResult = { result: out.result, sessionId: out.sessionId, sandboxId: entry.sandbox.sandboxId };
        const numTurns = status.numTurns - before.numTurns;
        const costUsd = status.totalCostUsd - before.costUsd;
        return {
          workflowId: workflowInfo().workflowId,
          turn: record.turn,
          result: out.result,
          sessionId: out.sessionId,
          sandboxId: entry.sandbox.sandboxId,
          numTurns,
          costUsd,
          durationMs: Date.now() - startedAt,
          totalNumTurns: status.numTurns,
          totalCostUsd: status.totalCostUsd,
          restored,
        };
      }
    } catch (err) {
      record.error = describe(err);
      throw isCancellation(err) ? err : asUpdateFailure(err);
    } finally {
      record.numTurns = status.numTurns - before.numTurns;
      record.costUsd = status.totalCostUsd - before.costUsd;
      record.durationMs = Date.now() - startedAt;
      if (this.state === 'open' || this.state === 'closing') status.phase = this.state === 'open' ? 'open' : 'closing';
    }
  }

  /** Saves the session after a turn; a failed save is recorded, not fatal (the turn succeeded). */
  private async save(entry: SandboxEntry, sessionId: string, turn: number): Promise<void> {
    const previous = this.status.phase;
    this.status.phase = 'saving-session';
    try {
      const saved = await sessionActivities(entry.sandbox).saveSession({
        sandboxId: entry.sandbox.sandboxId,
        provider: entry.sandbox.provider,
        sessionId,
        turn,
      });
      this.status.sessionSaveError = saved.workspaceError;
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.status.sessionSaveError = describe(err);
      log.warn('session not saved', { sessionId, error: this.status.sessionSaveError });
    } finally {
      this.status.phase = previous;
    }
  }
}

/** The ApplicationFailure type behind an activity failure, if any. */
function failureType(err: unknown): string | undefined {
  const app = err instanceof ActivityFailure ? err.cause : err;
  return app instanceof ApplicationFailure ? (app.type ?? undefined) : undefined;
}

function describe(err: unknown): string {
  const app = err instanceof ActivityFailure ? (err.cause ?? err) : err;
  if (app instanceof ApplicationFailure && app.type) return `${app.type}: ${app.message}`;
  return app instanceof Error ? app.message : String(app);
}

/** A follow-up's failure as the Update's failure: one line, its type kept; the task stays open. */
function asUpdateFailure(err: unknown): ApplicationFailure {
  const app = err instanceof ActivityFailure ? err.cause : err;
  return ApplicationFailure.create({
    type: app instanceof ApplicationFailure ? (app.type ?? 'AgentFailed') : 'AgentFailed',
    nonRetryable: true,
    message: `the follow-up failed: ${app instanceof Error ? app.message : String(app)}`,
    details: app instanceof ApplicationFailure ? [...(app.details ?? [])] : [],
  });
}
