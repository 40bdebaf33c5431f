import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ApprovalRequest, ApprovalStatus, ApproveResult, DeferredCallSummary, RunApproval } from '../schemas/approvals.js';
import type { TaskStatus } from '../schemas/messages.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import { checkApproveInput, type Answer } from './approve-input.js';
import { approveUpdate, stepWaitingSignal } from './messages.js';
import { CcflowWaiting, WAITING_APPROVAL } from './search-attributes.js';

/** Answers kept in the status (the newest); older ones are in history. */
const KEPT_ANSWERS = 20;

/** The answer a held call resumes with, as the agent run hands it to the in-sandbox hook. */
export type Decision = NonNullable<RunApproval['decision']>;

/** What the gate needs from the turn that holds the call. */
export interface Holder {
  turn: number;
  sessionId: string;
  /** Saves nothing (the session was saved when the call was held) and destroys the sandbox. */
  release(): Promise<void>;
}

/**
 * Human approval of tool calls, for one task. It registers the `approve` Update as soon as the
 * workflow starts, and when an agent run ends holding a call (the approval hook deferred it),
 * the turn hands the call to `wait`: the request is recorded in the status and shown through
 * the `CcflowWaiting` search attribute (and to a parent pipeline), the task waits with no
 * process running, releases its sandbox after the grace period, and resumes with the answer
 * or, past the timeout, with what `onTimeout` says. It never runs an agent itself.
 */
export class ApprovalGate {
  private spec: TaskSpec['approval'];
  private answer: (Answer & { by: 'human' | 'timeout' }) | undefined;
  private since: number | undefined;

  constructor(private readonly status: TaskStatus) {
    setHandler(approveUpdate, (input) => this.accept(checkApproveInput(input)), { validator: (input) => this.check(input) });
  }

  /** The task's approval settings, once its spec is validated. */
  configure(spec: TaskSpec): void {
    this.spec = spec.approval;
    if (this.spec && !this.status.approval) this.status.approval = { answered: [], requests: 0, allowRules: [], waitedMs: 0 };
  }

  private get state(): ApprovalStatus | undefined {
    return this.status.approval;
  }

  /** Whether a call waits for an answer now. */
  get waiting(): boolean {
    return this.since !== undefined;
  }

  /** Time spent waiting so far, finished waits only (ms). */
  get waitedMs(): number {
    return this.state?.waitedMs ?? 0;
  }

  /** What an agent run is told about approvals: the rules, the remembered ones, the answer it resumes with. */
  runInput(decision?: Decision): RunApproval | undefined {
    if (!this.spec || !this.state) return undefined;
    return { rules: this.spec.tools, allowRules: [...this.state.allowRules], ...(decision ? { decision } : {}) };
  }

  /**
   * Waits for the answer to a held call and returns it. After keepSandboxSeconds the holder's
   * sandbox is released; past timeoutSeconds onTimeout applies (deny, or fail the task).
   */
  async wait(call: DeferredCallSummary, holder: Holder): Promise<Decision> {
    const spec = this.spec;
    const state = this.state;
    if (!spec || !state) {
      // Only the approval hook defers calls, and only tasks with rules have it.
      throw ApplicationFailure.create({
        type: 'AgentFailed',
        nonRetryable: true,
        message: `the agent run held a ${call.toolName} call, but the task has no approval rules`,
      });
    }
    state.requests += 1;
    const now = Date.now();
    const timeoutMs = spec.timeoutSeconds === undefined ? undefined : spec.timeoutSeconds * 1000;
    const request: ApprovalRequest = {
      requestId: `req-${state.requests}`,
      toolUseId: call.toolUseId,
      toolName: call.toolName,
      input: call.input,
      inputSha256: call.inputSha256,
      rules: call.rules,
      ...(call.agentText ? { agentText: call.agentText } : {}),
      turn: holder.turn,
      sessionId: holder.sessionId,
      requestedAt: now,
      ...(timeoutMs !== undefined ? { expiresAt: now + timeoutMs } : {}),
    };
    state.pending = request;
    this.answer = undefined;
    this.since = now;
    const phase = this.status.phase;
    this.status.phase = 'waiting-approval';
    upsertSearchAttributes([{ key: CcflowWaiting, value: WAITING_APPROVAL }]);
    await this.tellParent(request);
    log.info('a tool call waits for approval', { requestId: request.requestId, tool: call.toolName, rules: call.rules });
    try {
      const answered = () => this.answer !== undefined;
      const graceMs = spec.keepSandboxSeconds * 1000;
      let got = graceMs > 0 && (await condition(answered, timeoutMs === undefined ? graceMs : Math.min(graceMs, timeoutMs)));
      if (!got && (timeoutMs === undefined || timeoutMs > graceMs)) {
        // Waiting costs nothing from here on: no process, and now no sandbox either.
        await holder.release();
        request.sandboxReleased = true;
        if (timeoutMs === undefined) {
          await condition(answered);
          got = true;
        } else {
          got = await condition(answered, timeoutMs - graceMs);
        }
      }
      if (!got) this.timedOut(request, timeoutMs ?? 0, spec.onTimeout);
      const answer = this.given();
      return {
        toolUseId: request.toolUseId,
        decision: answer.decision,
        inputSha256: request.inputSha256,
        by: answer.by,
        ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
      };
    } finally {
      state.pending = undefined;
      state.waitedMs += Date.now() - now;
      this.since = undefined;
      this.status.phase = phase;
      upsertSearchAttributes([{ key: CcflowWaiting, value: null }]);
      await this.tellParent(undefined);
    }
  }

  /** The answer that ended the wait (a method, so the compiler does not narrow it away). */
  private given(): Answer & { by: 'human' | 'timeout' } {
    if (!this.answer) throw new Error('no answer yet');
    return this.answer;
  }

  /** The validator: refuses anything but a well-formed answer to the request that waits. */
  private check(input: unknown): void {
    const answer = checkApproveInput(input);
    const { workflowId } = workflowInfo();
    const state = this.state;
    const pending = state?.pending;
    if (pending && pending.requestId === answer.requestId && this.answer === undefined) {
      if (answer.remember === 'session' && answer.decision === 'deny') {
        throw new Error('remember: "session" applies to allow only; a denial is for this call');
      }
      return;
    }
    const earlier = state?.answered.find((a) => a.requestId === answer.requestId);
    if (earlier || (pending?.requestId === answer.requestId && this.answer !== undefined)) {
      const how = earlier
        ? ` (${earlier.decision}, by ${earlier.by === 'human' ? 'a human' : 'the timeout'} at ${new Date(earlier.answeredAt).toISOString()})`
        : '';
      throw new Error(`request ${answer.requestId} of task ${workflowId} was already answered${how}`);
    }
    if (!state) throw new Error(`task ${workflowId} has no approval rules, so nothing waits for approval`);
    throw new Error(
      `task ${workflowId} has no request ${answer.requestId}; ${pending ? `the one waiting is ${pending.requestId} (${pending.toolName})` : 'nothing waits for approval now'}`,
    );
  }

  private accept(answer: Answer): ApproveResult {
    const state = this.state as ApprovalStatus;
    const pending = state.pending as ApprovalRequest;
    this.answer = { ...answer, by: 'human' };
    const remembered = answer.remember === 'session' ? pending.rules.filter((r) => !state.allowRules.includes(r)) : [];
    state.allowRules.push(...remembered);
    this.record(pending, { ...answer, by: 'human' });
    log.info('approval answered', { requestId: answer.requestId, decision: answer.decision, remember: answer.remember });
    return {
      workflowId: workflowInfo().workflowId,
      requestId: answer.requestId,
      decision: answer.decision,
      rememberedRules: [...state.allowRules],
    };
  }

  private timedOut(request: ApprovalRequest, timeoutMs: number, onTimeout: 'deny' | 'fail'): void {
    const after = formatDuration(timeoutMs);
    if (onTimeout === 'fail') {
      this.record(request, {
        requestId: request.requestId,
        decision: 'deny',
        remember: 'once',
        reason: `no answer within ${after}`,
        by: 'timeout',
      });
      throw ApplicationFailure.create({
        type: 'ApprovalTimedOut',
        nonRetryable: true,
        message: `request ${request.requestId} (${request.toolName}: ${request.input.slice(0, 200)}) got no answer within ${after}`,
        details: [{ request }],
      });
    }
    this.answer = {
      requestId: request.requestId,
      decision: 'deny',
      remember: 'once',
      reason: `No answer came within ${after}.`,
      by: 'timeout',
    };
    this.record(request, this.answer);
  }

  private record(request: ApprovalRequest, answer: Answer & { by: 'human' | 'timeout' }): void {
    const state = this.state as ApprovalStatus;
    state.answered.push({
      requestId: request.requestId,
      toolName: request.toolName,
      decision: answer.decision,
      remember: answer.remember,
      by: answer.by,
      answeredAt: Date.now(),
      ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
    });
    if (state.answered.length > KEPT_ANSWERS) state.answered.splice(0, state.answered.length - KEPT_ANSWERS);
  }

  /** A pipeline shows its step as waiting: the step's task tells it (its parent) when it starts and stops. */
  private async tellParent(request: ApprovalRequest | undefined): Promise<void> {
    const parent = workflowInfo().parent;
    if (!parent) return;
    try {
      await getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(stepWaitingSignal, {
        workflowId: workflowInfo().workflowId,
        waiting: request !== undefined,
        ...(request ? { requestId: request.requestId, toolName: request.toolName } : {}),
      });
    } catch (err) {
      // The parent may have ended; the task's own status still says everything.
      log.warn('could not tell the parent workflow about the approval', { error: String(err) });
    }
  }
}

/** `90 s`, `5 min`, `2 h`, `3 d`. */
function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
