import { ApplicationFailure, isCancellation, log, upsertMemo, uuid4, workflowInfo } from '@temporalio/workflow';
import { correctivePromptText, taskPromptText, withAttachmentPaths } from '../domain/prompts.js';
import type { FetchedResult, RunClaudeOutput } from '../schemas/activities.js';
import type { FollowUpInput, TaskStatus } from '../schemas/messages.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import { describeFailure, failureType } from './failures.js';
import type { SandboxEntry, SandboxPool } from './sandbox-pool.js';

/** How often a turn starts over in a fresh sandbox when its sandbox is lost under the agent. */
export const MAX_SANDBOX_RESTARTS = 2;

/** One prompt of the session as the agent gets it. */
interface Turn {
  prompt: string;
  session: { resume: string } | { fresh: string };
  resultSchema: Record<string, unknown>;
  /** Names the turn in the task's live events: `start` for the task's prompt, the Update's id for a follow-up. */
  liveKey: string;
}

/** What one turn came to: its valid result, where it ran, and what it cost. */
export interface TurnOutcome {
  result: Record<string, unknown>;
  sessionId: string;
  entry: SandboxEntry;
  numTurns: number;
  costUsd: number;
  durationMs: number;
  /** The sandbox was gone: the session was restored into a new one for this turn. */
  restored: boolean;
}

/**
 * One Claude session across the turns of a task. A turn is a prompt and the corrective resumes
 * it takes to get a valid result; the first prompt and each follow-up are turns. It finds the
 * sandbox a turn runs in (a new one, the current one, or a new one with the session restored),
 * starts over when the sandbox is lost, and saves the session after every turn.
 */
export class TaskSession {
  constructor(
    private readonly spec: TaskSpec,
    private readonly status: TaskStatus,
    private readonly pool: SandboxPool,
    private runCount = 0,
  ) {}

  /** Agent runs so far (runs are named run-1, run-2, ... across the task). */
  get runs(): number {
    return this.runCount;
  }

  /** The task's own prompt, in a new sandbox (with an earlier task's session restored into it, for continueFrom). */
  async first(): Promise<TurnOutcome> {
    const startedAt = Date.now();
    const before = this.totals();
    for (let restart = 0; ; restart++) {
      this.status.phase = 'creating-sandbox';
      const entry = await this.pool.create(true);
      this.status.sandboxId = entry.sandbox.sandboxId;
      try {
        const turn = await this.firstTurn(entry);
        const out = await this.untilValid(entry, turn);
        return { ...out, entry, ...this.since(before, startedAt), restored: false };
      } catch (err) {
        if (restart < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') {
          log.warn('sandbox lost under the agent; starting over in a fresh sandbox', { sandboxId: entry.sandbox.sandboxId });
          this.status.sandboxRestarts = restart + 1;
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * A task without a prompt: its sandbox now (seeded, or holding an earlier task's session), so a
   * bad seed shows at once, and no turn. Its first follow-up starts the session.
   */
  async openIdle(): Promise<void> {
    this.status.phase = 'creating-sandbox';
    const entry = await this.pool.create(true);
    this.status.sandboxId = entry.sandbox.sandboxId;
    const from = this.spec.continueFrom;
    if (!from) return;
    const restored = await this.restore(entry, from);
    if (!from.workspaceOnly) this.status.sessionId = restored;
  }

  /**
   * A follow-up: `--resume` in the current sandbox, or in a new one where the saved session is
   * restored. A task that opened without a prompt starts its session with its first follow-up.
   */
  async followUp(input: FollowUpInput, liveKey: string, turnNumber: number): Promise<TurnOutcome> {
    const startedAt = Date.now();
    const before = this.totals();
    const sessionId = this.status.sessionId;
    if (!sessionId && this.runCount > 0)
      throw ApplicationFailure.create({ type: 'SessionNotFound', nonRetryable: true, message: 'the task has no session to resume' });
    const turn: Turn = {
      prompt: this.promptText(input.prompt),
      session: sessionId ? { resume: sessionId } : { fresh: uuid4() },
      resultSchema: input.resultSchema ?? this.spec.resultSchema,
      liveKey,
    };
    let restored = false;
    for (let restart = 0; ; restart++) {
      this.status.phase = 'following-up';
      let entry = this.pool.current as SandboxEntry;
      const ref = { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider };
      const { alive } = await this.pool.activities(entry).probeSandbox(ref);
      if (alive) {
        await this.pool.activities(entry).clearResult(ref);
      } else if (!sessionId) {
        // Nothing ran yet, so nothing was saved: a fresh sandbox, seeded as the first one was.
        this.status.phase = 'creating-sandbox';
        entry = await this.pool.create(true);
        this.status.sandboxId = entry.sandbox.sandboxId;
        this.status.phase = 'following-up';
      } else {
        log.info('the sandbox is gone; restoring the session into a new one', { sandboxId: entry.sandbox.sandboxId });
        this.status.phase = 'creating-sandbox';
        entry = await this.pool.create(false);
        this.status.sandboxId = entry.sandbox.sandboxId;
        this.status.phase = 'restoring-session';
        await this.pool.activities(entry).restoreSession({
          sandboxId: entry.sandbox.sandboxId,
          provider: entry.sandbox.provider,
          fromWorkflowId: workflowInfo().workflowId,
          sessionId,
        });
        restored = true;
        this.status.phase = 'following-up';
      }
      try {
        const staged = await this.stage(entry, input, turnNumber);
        const out = await this.untilValid(
          entry,
          staged ? { ...turn, prompt: this.promptText(withAttachmentPaths(input.prompt, staged)) } : turn,
        );
        return { ...out, entry, ...this.since(before, startedAt), restored };
      } catch (err) {
        if (restart < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') continue;
        throw err;
      }
    }
  }

  /** Saves the session after a turn; a failed save is recorded, not fatal (the turn succeeded). */
  async save(entry: SandboxEntry, sessionId: string, turn: number): Promise<void> {
    const previous = this.status.phase;
    this.status.phase = 'saving-session';
    try {
      const saved = await this.pool.activities(entry).saveSession({
        sandboxId: entry.sandbox.sandboxId,
        provider: entry.sandbox.provider,
        sessionId,
        turn,
      });
      this.status.sessionSaveError = saved.workspaceError;
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.status.sessionSaveError = describeFailure(err);
      log.warn('session not saved', { sessionId, error: this.status.sessionSaveError });
    } finally {
      this.status.phase = previous;
    }
  }

  /** The first turn's prompt, resuming an earlier task's session when the task continues one. */
  private async firstTurn(entry: SandboxEntry): Promise<Turn> {
    const fresh = uuid4();
    const prompt = this.promptText(this.spec.prompt ?? '');
    const from = this.spec.continueFrom;
    const liveKey = 'start';
    if (!from) return { prompt, resultSchema: this.spec.resultSchema, session: { fresh }, liveKey };
    const restored = await this.restore(entry, from);
    return { prompt, resultSchema: this.spec.resultSchema, session: from.workspaceOnly ? { fresh } : { resume: restored }, liveKey };
  }

  /** Restores an earlier task's saved session into a sandbox; returns its session id. */
  private async restore(entry: SandboxEntry, from: NonNullable<TaskSpec['continueFrom']>): Promise<string> {
    this.status.phase = 'restoring-session';
    this.status.continuedFrom = from.workflowId;
    upsertMemo({ continuedFrom: from.workflowId });
    const restored = await this.pool.activities(entry).restoreSession({
      sandboxId: entry.sandbox.sandboxId,
      provider: entry.sandbox.provider,
      fromWorkflowId: from.workflowId,
      sessionId: from.sessionId,
      workspaceOnly: from.workspaceOnly,
    });
    return restored.sessionId;
  }

  /** Writes a follow-up's attachments into the sandbox it runs in; their paths, or undefined without any. */
  private async stage(entry: SandboxEntry, input: FollowUpInput, turn: number): Promise<string[] | undefined> {
    if (!input.attachments || input.attachments.length === 0) return undefined;
    const { paths } = await this.pool.activities(entry).stageAttachments({
      sandboxId: entry.sandbox.sandboxId,
      provider: entry.sandbox.provider,
      turn,
      files: input.attachments,
    });
    return paths;
  }

  /** What the agent is told: the prompt, plus how to hand back a result when it submits one. */
  private promptText(prompt: string): string {
    return this.spec.resultMode === 'text' ? prompt : taskPromptText(prompt);
  }

  /** Runs a turn in a sandbox, resuming the session with a correction while the result is missing or invalid. */
  private async untilValid(entry: SandboxEntry, turn: Turn): Promise<{ result: Record<string, unknown>; sessionId: string }> {
    const acts = this.pool.activities(entry);
    const ref = { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider };
    const attemptsBefore = this.status.resultAttempts;
    this.status.phase = 'running';
    let last = await this.run(entry, turn.prompt, turn.session, turn.resultSchema, turn.liveKey);
    if (this.spec.resultMode === 'text') {
      // The final message is the result: nothing to fetch, nothing to correct.
      this.status.resultAttempts += 1;
      return { result: { text: last.resultText ?? '' }, sessionId: last.sessionId };
    }
    for (;;) {
      this.status.phase = 'fetching-result';
      this.status.resultAttempts += 1;
      const fetched: FetchedResult = await acts.fetchResult({ ...ref, resultSchema: turn.resultSchema });
      if (fetched.status === 'valid') return { result: fetched.result, sessionId: last.sessionId };
      const errors = fetched.status === 'invalid' ? fetched.errors : ['no result was submitted'];
      this.status.lastResultErrors = errors;
      const details = [{ errors, lastAttempt: fetched.lastAttempt, sessionId: last.sessionId }];
      const attempts = this.status.resultAttempts - attemptsBefore;
      if (attempts > this.spec.resultRetries) {
        const message = `no valid result after ${attempts} agent run(s): ${errors.join('; ')}`;
        throw ApplicationFailure.create({ type: 'InvalidResult', nonRetryable: true, message, details });
      }
      const budget = this.spec.maxBudgetUsd;
      if (budget !== undefined && this.status.totalCostUsd >= budget) {
        const message = `the task spent $${this.status.totalCostUsd.toFixed(4)} of its $${budget} budget without a valid result`;
        throw ApplicationFailure.create({ type: 'BudgetExceeded', nonRetryable: true, message, details });
      }
      this.status.phase = 'correcting';
      const problem = fetched.status === 'invalid' ? { kind: 'invalid' as const, errors } : { kind: 'missing' as const };
      last = await this.run(entry, correctivePromptText(problem), { resume: last.sessionId }, turn.resultSchema, turn.liveKey);
    }
  }

  /** One agent run (one claude process) in a sandbox. */
  private async run(
    entry: SandboxEntry,
    prompt: string,
    session: Turn['session'],
    resultSchema: Record<string, unknown>,
    liveKey: string,
  ): Promise<RunClaudeOutput> {
    const runName = `run-${++this.runCount}`;
    entry.runNames.push(runName);
    const spec = this.spec;
    const out = await this.pool.activities(entry).runClaude({
      sandboxId: entry.sandbox.sandboxId,
      provider: entry.sandbox.provider,
      runName,
      prompt,
      resultSchema,
      permissionMode: spec.permissionMode,
      allowedTools: spec.allowedTools,
      model: spec.model,
      maxTurns: spec.maxTurns,
      // The budget is the task's: each run gets what is left of it.
      maxBudgetUsd: spec.maxBudgetUsd === undefined ? undefined : spec.maxBudgetUsd - this.status.totalCostUsd,
      appendSystemPrompt: spec.appendSystemPrompt,
      stallSeconds: spec.timeouts.stallSeconds,
      liveKey,
      ...(spec.resultMode === 'text' ? { resultMode: 'text' as const } : {}),
      ...('resume' in session ? { resumeSessionId: session.resume } : { newSessionId: session.fresh }),
    });
    // total_cost_usd is per process: the task's cost is the sum over its runs.
    this.status.runs.push({ runName, sessionId: out.sessionId, numTurns: out.numTurns, costUsd: out.costUsd, subtype: out.subtype });
    this.status.numTurns += out.numTurns;
    this.status.totalCostUsd += out.costUsd;
    this.status.sessionId = out.sessionId;
    return out;
  }

  private totals(): { numTurns: number; costUsd: number } {
    return { numTurns: this.status.numTurns, costUsd: this.status.totalCostUsd };
  }

  private since(before: { numTurns: number; costUsd: number }, startedAt: number) {
    return {
      numTurns: this.status.numTurns - before.numTurns,
      costUsd: this.status.totalCostUsd - before.costUsd,
      durationMs: Date.now() - startedAt,
    };
  }
}
