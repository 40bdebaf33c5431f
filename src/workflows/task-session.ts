import { ActivityFailure, ApplicationFailure, isCancellation, log, upsertMemo, uuid4, workflowInfo } from '@temporalio/workflow';
import { DEFAULT_MAX_HOST_RESTARTS } from '../domain/constants.js';
import { correctivePromptText, taskPromptText, withAttachmentPaths } from '../domain/prompts.js';
import type { FetchedResult, RunClaudeOutput } from '../schemas/activities.js';
import type { FollowUpInput, TaskStatus } from '../schemas/messages.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import type { ApprovalGate, Decision } from './approval-gate.js';
import { describeFailure, failureType, isHostLost } from './failures.js';
import type { SandboxEntry, SandboxPool } from './sandbox-pool.js';
import type { TaskRepo } from './task-repo.js';

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
    private readonly approvals: ApprovalGate,
    private readonly repo: TaskRepo,
    private runCount = 0,
  ) {}

  /** Agent runs so far (runs are named run-1, run-2, ... across the task). */
  get runs(): number {
    return this.runCount;
  }

  /**
   * The task's own prompt, in a new sandbox (with an earlier task's session restored into it,
   * for continueFrom). Nothing of this task is saved before its first turn ends, so a lost
   * sandbox or host means starting the turn over in a fresh sandbox.
   */
  async first(): Promise<TurnOutcome> {
    const startedAt = Date.now();
    const before = this.totals();
    for (let sandboxRestarts = 0; ;) {
      this.status.phase = 'creating-sandbox';
      const entry = await this.pool.create(true);
      this.status.sandboxId = entry.sandbox.sandboxId;
      try {
        const turn = await this.firstTurn(entry);
        await this.repo.prepare(this.pool.activities(entry), { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider });
        const out = await this.untilValid(entry, turn, 1);
        return { ...out, ...this.since(before, startedAt) };
      } catch (err) {
        if (sandboxRestarts < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') {
          log.warn('sandbox lost under the agent; starting over in a fresh sandbox', { sandboxId: entry.sandbox.sandboxId });
          this.status.sandboxRestarts = ++sandboxRestarts;
          continue;
        }
        if (isHostLost(err)) {
          this.hostLost(entry, err, 'nothing was saved yet: starting the task over');
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * A task without a prompt: its sandbox now (seeded, or holding an earlier task's session, or
   * its repository checked out), so a bad seed shows at once, and no turn. Its first follow-up
   * starts the session.
   */
  async openIdle(): Promise<void> {
    this.status.phase = 'creating-sandbox';
    const entry = await this.pool.create(true);
    this.status.sandboxId = entry.sandbox.sandboxId;
    const from = this.spec.continueFrom;
    if (from) {
      const restored = await this.restore(entry, from);
      if (!from.workspaceOnly) this.status.sessionId = restored;
    }
    await this.repo.prepare(this.pool.activities(entry), { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider });
  }

  /**
   * A follow-up (turn `turnNo`): `--resume` in the current sandbox, or in a new one where the
   * saved session is restored (the sandbox expired, or its host was lost). A task that opened
   * without a prompt starts its session with its first follow-up.
   */
  async followUp(input: FollowUpInput, liveKey: string, turnNo: number): Promise<TurnOutcome> {
    const startedAt = Date.now();
    const before = this.totals();
    let sessionId = this.status.sessionId;
    if (!sessionId && this.runCount > 0)
      throw ApplicationFailure.create({ type: 'SessionNotFound', nonRetryable: true, message: 'the task has no session to resume' });
    const resultSchema = input.resultSchema ?? this.spec.resultSchema;
    let restored = false;
    for (let sandboxRestarts = 0; ;) {
      this.status.phase = 'following-up';
      let entry = this.pool.current as SandboxEntry;
      try {
        if (!(await this.usable(entry))) {
          if (!sessionId) {
            entry = await this.freshInto();
          } else {
            if (entry.lost) sessionId = this.resumePoint(entry).sessionId;
            entry = await this.restoreInto(sessionId);
            restored = true;
          }
        }
        const staged = await this.stage(entry, input, turnNo);
        const prompt = this.promptText(staged ? withAttachmentPaths(input.prompt, staged) : input.prompt);
        const session: Turn['session'] = sessionId ? { resume: sessionId } : { fresh: uuid4() };
        const out = await this.untilValid(entry, { prompt, resultSchema, session, liveKey }, turnNo);
        return { ...out, ...this.since(before, startedAt), restored: restored || out.restored };
      } catch (err) {
        if (sandboxRestarts < MAX_SANDBOX_RESTARTS && failureType(err) === 'SandboxLost') {
          sandboxRestarts += 1;
          continue;
        }
        // The next round sees the entry lost and resumes from the last save on another host.
        if (isHostLost(err)) {
          this.hostLost(this.pool.current as SandboxEntry, err, 'resuming the saved session on another host');
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * Saves the session after a turn; a failed save is recorded, not fatal (the turn succeeded).
   * Returns whether the session could be restored from what was saved.
   */
  async save(entry: SandboxEntry, sessionId: string, turn: number): Promise<boolean> {
    if (entry.lost) return false;
    const previous = this.status.phase;
    this.status.phase = 'saving-session';
    try {
      const saved = await this.pool.activities(entry).saveSession({
        sandboxId: entry.sandbox.sandboxId,
        provider: entry.sandbox.provider,
        sessionId,
        turn,
        ...(this.status.sessionCosts?.[sessionId] !== undefined ? { sessionCostUsd: this.status.sessionCosts[sessionId] } : {}),
      });
      this.status.sessionSaveError = saved.workspaceError;
      if (saved.workspaceBytes !== null) this.status.savedSession = { sessionId, turn };
      return saved.workspaceError === undefined;
    } catch (err) {
      if (isCancellation(err)) throw err;
      // The next turn notices the host is gone and moves on from the previous save.
      if (isHostLost(err)) entry.lost = true;
      this.status.sessionSaveError = describeFailure(err);
      log.warn('session not saved', { sessionId, error: this.status.sessionSaveError });
      return false;
    } finally {
      this.status.phase = previous;
    }
  }

  /** Whether the current sandbox can take the next turn (its previous result cleared). */
  private async usable(entry: SandboxEntry): Promise<boolean> {
    if (entry.lost) return false;
    const acts = this.pool.activities(entry);
    const ref = { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider };
    if (!(await acts.probeSandbox(ref)).alive) {
      log.info('the sandbox is gone; restoring the session into a new one', { sandboxId: ref.sandboxId });
      return false;
    }
    await acts.clearResult(ref);
    return true;
  }

  /** A new sandbox seeded as the first one was (nothing ran yet, so nothing was saved), now the current one. */
  private async freshInto(): Promise<SandboxEntry> {
    this.status.phase = 'creating-sandbox';
    const entry = await this.pool.create(true);
    this.status.sandboxId = entry.sandbox.sandboxId;
    await this.repo.prepare(this.pool.activities(entry), { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider });
    this.status.phase = 'following-up';
    return entry;
  }

  /** A new sandbox with this task's saved session restored into it, now the current one. */
  private async restoreInto(sessionId: string): Promise<SandboxEntry> {
    this.status.phase = 'creating-sandbox';
    const entry = await this.pool.create(false);
    this.status.sandboxId = entry.sandbox.sandboxId;
    this.status.phase = 'restoring-session';
    await this.pool.activities(entry).restoreSession({
      sandboxId: entry.sandbox.sandboxId,
      provider: entry.sandbox.provider,
      fromWorkflowId: workflowInfo().workflowId,
      sessionId,
    });
    this.status.phase = 'following-up';
    return entry;
  }

  /** What a turn resumes from after its host was lost: the last whole save, or a clear failure. */
  private resumePoint(lost: SandboxEntry): { sessionId: string } {
    const saved = this.status.savedSession;
    if (!saved) {
      throw ApplicationFailure.create({
        type: 'HostLost',
        nonRetryable: true,
        message:
          `the host of sandbox ${lost.sandbox.sandboxId} (${lost.sandbox.taskQueue}) was lost and no session was saved to continue from` +
          (this.status.sessionSaveError ? ` (the last save failed: ${this.status.sessionSaveError})` : ''),
      });
    }
    return { sessionId: saved.sessionId };
  }

  /**
   * Records that a sandbox's host is gone: its sandbox is left to that host's sweeper, and the
   * task moves on, unless it has moved as often as its spec allows.
   */
  private hostLost(entry: SandboxEntry, err: unknown, next: string): void {
    entry.lost = true;
    const restarts = (this.status.hostRestarts ?? 0) + 1;
    const where = `${entry.sandbox.taskQueue}, sandbox ${entry.sandbox.sandboxId}`;
    // Specs of tasks started before the field existed carry none.
    const max = this.spec.maxHostRestarts ?? DEFAULT_MAX_HOST_RESTARTS;
    if (restarts > max) {
      throw ApplicationFailure.create({
        type: 'HostLost',
        nonRetryable: true,
        message: `lost the host of the task's sandbox (${where}) after ${max} host restart(s) already: giving up`,
        cause: err instanceof ActivityFailure ? err : undefined,
      });
    }
    this.status.hostRestarts = restarts;
    log.warn(`host lost (${where}); ${next}`, { hostRestarts: restarts });
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
    // The continued session's cost so far is the earlier task's: this task counts what it adds.
    if (restored.sessionCostUsd !== undefined) {
      this.status.sessionCosts = { ...this.status.sessionCosts, [restored.sessionId]: restored.sessionCostUsd };
    }
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

  /**
   * Runs a turn in a sandbox, resuming the session with a correction while the result is
   * missing or invalid. A run that ends holding a call for a human waits for the answer and
   * resumes with it (in a restored sandbox when the wait outlived the first), so the turn may
   * end in another sandbox than it began.
   */
  private async untilValid(
    entry: SandboxEntry,
    turn: Turn,
    turnNo: number,
  ): Promise<{ result: Record<string, unknown>; sessionId: string; entry: SandboxEntry; restored: boolean }> {
    let current = entry;
    let restored = false;
    const settled = async (out: RunClaudeOutput): Promise<RunClaudeOutput> => {
      while (out.deferred) {
        const next = await this.awaitApproval(current, out, turnNo);
        current = next.entry;
        restored ||= next.restored;
        this.status.phase = 'running';
        out = await this.run(current, '', { resume: out.sessionId }, turn.resultSchema, turn.liveKey, next.decision);
      }
      return out;
    };
    const attemptsBefore = this.status.resultAttempts;
    this.status.phase = 'running';
    let last = await settled(await this.run(current, turn.prompt, turn.session, turn.resultSchema, turn.liveKey));
    if (this.spec.resultMode === 'text') {
      // The final message is the result: nothing to fetch, nothing to correct.
      this.status.resultAttempts += 1;
      return { result: { text: last.resultText ?? '' }, sessionId: last.sessionId, entry: current, restored };
    }
    for (;;) {
      const acts = this.pool.activities(current);
      const ref = { sandboxId: current.sandbox.sandboxId, provider: current.sandbox.provider };
      this.status.phase = 'fetching-result';
      this.status.resultAttempts += 1;
      const fetched: FetchedResult = await acts.fetchResult({ ...ref, resultSchema: turn.resultSchema });
      if (fetched.status === 'valid') return { result: fetched.result, sessionId: last.sessionId, entry: current, restored };
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
      last = await settled(
        await this.run(current, correctivePromptText(problem), { resume: last.sessionId }, turn.resultSchema, turn.liveKey),
      );
    }
  }

  /**
   * A run ended holding a call for a human: save the session (so the sandbox may go while the
   * task waits), wait for the answer, then find a sandbox to resume in, restoring the session
   * into a new one when the old one was released or lost meanwhile.
   */
  private async awaitApproval(
    entry: SandboxEntry,
    out: RunClaudeOutput,
    turnNo: number,
  ): Promise<{ entry: SandboxEntry; restored: boolean; decision: Decision }> {
    const call = out.deferred as NonNullable<RunClaudeOutput['deferred']>;
    const sessionId = out.sessionId;
    const saved = await this.save(entry, sessionId, turnNo);
    const decision = await this.approvals.wait(call, {
      turn: turnNo,
      sessionId,
      // Without a restorable save, the sandbox is the only copy of the session: keep it.
      release: () => (saved ? this.pool.release(entry) : Promise.resolve()),
    });
    if (!entry.released && !entry.lost) {
      const ref = { sandboxId: entry.sandbox.sandboxId, provider: entry.sandbox.provider };
      const { alive } = await this.pool.activities(entry).probeSandbox(ref);
      if (alive) return { entry, restored: false, decision };
    }
    return { entry: await this.restoreInto(sessionId), restored: true, decision };
  }

  /** One agent run (one claude process) in a sandbox. */
  private async run(
    entry: SandboxEntry,
    prompt: string,
    session: Turn['session'],
    resultSchema: Record<string, unknown>,
    liveKey: string,
    decision?: Decision,
  ): Promise<RunClaudeOutput> {
    const runName = `run-${++this.runCount}`;
    entry.runNames.push(runName);
    const spec = this.spec;
    const approval = this.approvals.runInput(decision);
    const sessionCostUsd = 'resume' in session ? this.status.sessionCosts?.[session.resume] : undefined;
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
      ...(spec.network !== undefined ? { network: spec.network } : {}),
      liveKey,
      ...(spec.resultMode === 'text' ? { resultMode: 'text' as const } : {}),
      ...('resume' in session ? { resumeSessionId: session.resume } : { newSessionId: session.fresh }),
      ...(sessionCostUsd !== undefined ? { sessionCostUsd } : {}),
      ...(approval ? { approval } : {}),
    });
    // costUsd is the run's own (the activity subtracts what the resumed session had cost): the
    // task's cost is the sum over its runs.
    this.status.sessionCosts = { ...this.status.sessionCosts, [out.sessionId]: out.sessionCostUsd ?? (sessionCostUsd ?? 0) + out.costUsd };
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
