import {
  WAITING_FOR_WORKER,
  type FollowUpResult,
  type PendingApproval,
  type ProgressEvent,
  type ProgressSnapshot,
} from '../../client/index.js';

/**
 * What the MCP tools answer about a task or pipeline: one JSON object a calling model can read
 * at a glance, with `next` saying what to do now. Pure: progress events in, views out.
 */

export const TASK_STATES = [
  'waiting-for-worker',
  'running',
  'waiting-for-approval',
  'open',
  'succeeded',
  'failed',
  'cancelled',
  'terminated',
  'timed-out',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface TaskView {
  workflowId: string;
  /**
   * running: working on a turn; waiting-for-approval: a tool call (of the task, or of a
   * pipeline step) waits for approve; open: its latest turn is done and it waits for follow-ups.
   */
  state: TaskState;
  /** The workflow's finer phase while it runs (creating-sandbox, running, fetching-result, ...). */
  phase?: string;
  /** Since the task started (absent on a follow-up's answer, which has turnSeconds). */
  elapsedSeconds?: number;
  /** How long the follow-up turn took. */
  turnSeconds?: number;
  /** Agent turns and cost so far (all runs of the task). */
  agentTurns?: number;
  costUsd?: number;
  /** The tool the agent called last, and whether it is running now. */
  currentTool?: string;
  toolRunning?: boolean;
  /** The agent's latest text (shortened). */
  lastText?: string;
  /** The conversation turn: 1 for the task's prompt, 2.. for follow-ups. */
  turn?: number;
  /** The validated result (of the latest turn, for a task open for follow-ups). */
  result?: Record<string, unknown>;
  /** Why the latest turn failed, for a task that stays open anyway. */
  turnError?: string;
  /** Until when an open task waits for a follow-up (ISO 8601). */
  openUntil?: string;
  /** A pipeline's steps. */
  steps?: Array<{ name: string; state: string; workflowId?: string; result?: Record<string, unknown>; error?: string }>;
  failure?: { type?: string; message: string };
  sessionId?: string;
  /** The tool calls waiting for approve (filled in by the tools that look at a task). */
  pendingApprovals?: ApprovalView[];
  /** Something the caller should know that is not an error (e.g. no worker is running). */
  warning?: string;
  /** What to do next. */
  next: string;
}

/** A tool call held for a human, as a calling model reads it. */
export interface ApprovalView {
  /** The task that waits (a pipeline's step has its own). */
  workflowId: string;
  requestId: string;
  toolName: string;
  /** The call's input (JSON, parsed when it was not cut short). */
  input: unknown;
  /** The task's approval rules this call matched. */
  rules: string[];
  /** What the agent said just before the call. */
  agentText?: string;
  turn: number;
  requestedAt: string;
  /** When the task's approval.onTimeout applies unless it is answered. */
  expiresAt?: string;
  /** Its sandbox was saved and destroyed while it waits; an answer restores it. */
  sandboxReleased?: boolean;
}

const LAST_TEXT_CHARS = 1_000;
/** The phase of a task whose tool call waits for a human. */
const WAITING_APPROVAL_PHASE = 'waiting-approval';

const seconds = (ms: number) => Math.round(ms / 100) / 10;
/** Cost as people read it (float sums like 0.49127999999999994 are noise). */
const usd = (n: number) => Math.round(n * 10_000) / 10_000;

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A task, or one of a pipeline's steps, waits for a tool call to be approved or denied. */
export function awaitsApproval(event: ProgressEvent): boolean {
  return event.type === 'progress' && (event.phase === WAITING_APPROVAL_PHASE || (event.steps ?? []).some((s) => s.state === 'waiting'));
}

/**
 * A snapshot is settled when waiting longer shows nothing new: an open task's latest turn is
 * done, or a call waits for an answer (which only the caller, or a person, can give).
 */
export function isSettled(event: ProgressEvent): boolean {
  return event.type !== 'progress' || (event.phase === 'open' && event.latestTurn?.done === true) || awaitsApproval(event);
}

export function approvalView(p: PendingApproval): ApprovalView {
  let input: unknown = p.input;
  try {
    input = JSON.parse(p.input);
  } catch {
    // cut short (a long input): shown as the text it is
  }
  return {
    workflowId: p.workflowId,
    requestId: p.requestId,
    toolName: p.toolName,
    input,
    rules: p.rules,
    ...(p.agentText ? { agentText: p.agentText } : {}),
    turn: p.turn,
    requestedAt: new Date(p.requestedAt).toISOString(),
    ...(p.expiresAt !== undefined ? { expiresAt: new Date(p.expiresAt).toISOString() } : {}),
    ...(p.sandboxReleased ? { sandboxReleased: true } : {}),
  };
}

/** `view` with the calls that wait under it; `pending` as CcflowClient.approvals found them. */
export function withApprovals(view: TaskView, pending: readonly PendingApproval[]): TaskView {
  if (view.state !== 'waiting-for-approval') return view;
  if (pending.length === 0) {
    return { ...view, pendingApprovals: [], next: `The call that waited has just been answered. ${nextForRunning(view.workflowId)}` };
  }
  return { ...view, pendingApprovals: pending.map(approvalView) };
}

function nextForApproval(workflowId: string): string {
  return (
    'A tool call waits for approval (pendingApprovals, once you look with get_task or wait_task): the task holds it, durably, until it is answered. ' +
    'Unless the user already told you what to allow, show them the call and ask. Then call approve with its workflowId and requestId, decision "allow" or "deny" (with a reason the agent reads). ' +
    `Then wait_task with workflowId "${workflowId}" again.`
  );
}

export function nextForRunning(workflowId: string): string {
  return `Still working. Call wait_task with workflowId "${workflowId}" to wait for it (it returns as soon as the turn is done, and never blocks for longer than you ask); call get_task for a quick look. Do other work meanwhile if you like.`;
}

function nextForOpen(workflowId: string, turn: number | undefined, openUntil: string | undefined): string {
  return (
    `Turn ${turn ?? '?'} is done; the task stays open for follow-ups${openUntil ? ` until ${openUntil}` : ''}. ` +
    `Call follow_up with workflowId "${workflowId}" to continue the same Claude session, or cancel_task with close: true when you are finished with it.`
  );
}

function snapshotView(e: ProgressSnapshot): TaskView {
  const openUntil = e.openUntil !== undefined ? new Date(e.openUntil).toISOString() : undefined;
  const settled = isSettled(e);
  const state: TaskState =
    e.phase === WAITING_FOR_WORKER ? 'waiting-for-worker' : awaitsApproval(e) ? 'waiting-for-approval' : settled ? 'open' : 'running';
  const next =
    state === 'open'
      ? nextForOpen(e.workflowId, e.latestTurn?.turn, openUntil)
      : state === 'waiting-for-approval'
        ? nextForApproval(e.workflowId)
        : nextForRunning(e.workflowId);
  const view: TaskView = {
    workflowId: e.workflowId,
    state,
    phase: e.phase,
    elapsedSeconds: seconds(e.elapsedMs),
    agentTurns: e.turns,
    costUsd: usd(e.costUsd),
    next,
  };
  if (e.tool) view.currentTool = e.tool;
  if (e.tool) view.toolRunning = e.toolRunning;
  if (e.text) view.lastText = shorten(e.text, LAST_TEXT_CHARS);
  if (e.latestTurn) {
    view.turn = e.latestTurn.turn;
    if (e.latestTurn.done && e.latestTurn.result) view.result = e.latestTurn.result;
    if (e.latestTurn.done && e.latestTurn.error) view.turnError = e.latestTurn.error;
  }
  if (openUntil && state === 'open') view.openUntil = openUntil;
  if (e.steps) view.steps = e.steps.map((s) => ({ name: s.name, state: s.state }));
  if (e.sessionId) view.sessionId = e.sessionId;
  if (e.lastResultErrors?.length)
    view.warning = `the agent's last result was invalid (it is being corrected): ${e.lastResultErrors.join('; ')}`;
  return view;
}

/** A pipeline's result (it has `steps` by name); anything else is a task's. */
function resultView(workflowId: string, elapsedMs: number, value: Record<string, unknown>): TaskView {
  const elapsedSeconds = seconds(elapsedMs);
  const money = {
    ...(typeof value['numTurns'] === 'number' ? { agentTurns: value['numTurns'] } : {}),
    ...(typeof value['totalCostUsd'] === 'number' ? { costUsd: usd(value['totalCostUsd']) } : {}),
  };
  if (isRecord(value['steps'])) {
    const steps = Object.entries(value['steps']).map(([name, raw]) => {
      const s = isRecord(raw) ? raw : {};
      return {
        name,
        state: typeof s['state'] === 'string' ? s['state'] : 'unknown',
        ...(typeof s['workflowId'] === 'string' ? { workflowId: s['workflowId'] } : {}),
        ...(isRecord(s['result']) ? { result: s['result'] } : {}),
        ...(typeof s['error'] === 'string' ? { error: s['error'] } : {}),
      };
    });
    const ok = value['ok'] !== false;
    return {
      workflowId,
      state: ok ? 'succeeded' : 'failed',
      elapsedSeconds,
      ...money,
      steps,
      next: ok
        ? 'The pipeline is done; each step result is under steps.'
        : `The pipeline finished with failed steps (${steps
            .filter((s) => s.state === 'failed')
            .map((s) => s.name)
            .join(', ')}); read their errors under steps.`,
    };
  }
  const turns = Array.isArray(value['turns']) ? value['turns'] : [];
  const lastTurn: unknown = turns.at(-1);
  return {
    workflowId,
    state: 'succeeded',
    elapsedSeconds,
    ...money,
    ...(isRecord(lastTurn) && typeof lastTurn['turn'] === 'number' ? { turn: lastTurn['turn'] } : {}),
    ...(isRecord(value['result']) ? { result: value['result'] } : {}),
    ...(typeof value['sessionId'] === 'string' ? { sessionId: value['sessionId'] } : {}),
    next: 'The task is done; its validated result is in result. follow_up still works: it continues the saved session in a new task.',
  };
}

/** The view of any progress event: a running task, an open one, or how it ended. */
export function taskView(event: ProgressEvent): TaskView {
  switch (event.type) {
    case 'progress':
      return snapshotView(event);
    case 'result':
      return resultView(event.workflowId, event.elapsedMs, event.result);
    case 'failure':
      return {
        workflowId: event.workflowId,
        state: event.status,
        elapsedSeconds: seconds(event.elapsedMs),
        failure: { ...(event.failureType ? { type: event.failureType } : {}), message: event.message },
        next:
          event.status === 'cancelled'
            ? 'The task was cancelled; its sandbox is gone.'
            : `The task did not succeed. Read the resource ccflow://tasks/${event.workflowId}/transcript to see what the agent did, then start_task again with a corrected prompt, schema or limits.`,
      };
  }
}

/** The view of a follow-up turn that finished while the caller waited. */
export function followUpView(r: FollowUpResult): TaskView {
  return {
    workflowId: r.workflowId,
    state: 'open',
    turnSeconds: seconds(r.durationMs),
    agentTurns: r.totalNumTurns,
    costUsd: usd(r.totalCostUsd),
    turn: r.turn,
    result: r.result,
    sessionId: r.sessionId,
    next: nextForOpen(r.workflowId, r.turn, undefined),
  };
}

/** One line for an MCP progress notification: phase, turns, cost, tool. */
export function progressLine(event: ProgressEvent): string {
  if (event.type === 'result') return 'done';
  if (event.type === 'failure') return event.status;
  const parts = [event.phase, `${event.turns} agent turns`, `$${event.costUsd.toFixed(4)}`];
  if (event.tool) parts.push(`${event.toolRunning ? 'running ' : 'last tool '}${event.tool}`);
  return parts.join(' · ');
}
