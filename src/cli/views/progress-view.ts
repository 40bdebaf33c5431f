import { TaskResult } from '../../schemas/task-spec.js';
import { formatChanges } from '../output.js';
import type { PendingActivity, ProgressEvent, ProgressFailure, ProgressResult, ProgressSnapshot } from '../../schemas/progress.js';

/**
 * What `ccflow run`, `ccflow watch` and `ccflow status` show about a task, and how. The events
 * come from Temporal (the workflow's `status` query and the pending activity's heartbeat
 * details, see progress.ts); this module only renders them, so it is pure and tested against
 * a recorded event sequence. `--json` prints the events themselves, one per line.
 */

/** `7s`, `1m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatCost(usd: number): string {
  return `$${usd.toFixed(4)}`;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** `runClaude run-2 attempt 3 (retry after: ...)` for the activity in flight. */
function describeActivity(a: PendingActivity): string {
  const retry = a.attempt > 1 ? ` attempt ${a.attempt}${a.lastFailure ? ` (retry after: ${oneLine(a.lastFailure, 80)})` : ''}` : '';
  return `${a.type}${a.run ? ` ${a.run}` : ''}${retry}`;
}

/** The one-line headline of a snapshot: phase · elapsed · turns · cost. */
export function headline(e: ProgressSnapshot, o: { clock?: boolean } = {}): string {
  const parts = [
    e.phase,
    ...(o.clock === false ? [] : [formatDuration(e.elapsedMs)]),
    `${e.turns} turn${e.turns === 1 ? '' : 's'}`,
    formatCost(e.costUsd),
  ];
  if (e.resultAttempts > 1) parts.push(`result attempt ${e.resultAttempts}`);
  return parts.join(' · ');
}

/** The task result inside a result event, when the workflow is an agentTask. */
export function taskResultOf(e: ProgressResult): TaskResult | undefined {
  const parsed = TaskResult.safeParse(e.result);
  return parsed.success ? parsed.data : undefined;
}

/** What to print as "the result": an agentTask's validated result, or whatever the workflow returned. */
export function resultValue(e: ProgressResult): unknown {
  return taskResultOf(e)?.result ?? e.result;
}

/** The closing line(s) of a task, for people. */
export function renderEnd(e: ProgressResult | ProgressFailure): string[] {
  if (e.type === 'result') {
    const r = taskResultOf(e);
    if (!r) return [`✓ succeeded in ${formatDuration(e.elapsedMs)}`];
    const lines = [
      `✓ succeeded in ${formatDuration(r.durationMs)} · ${r.numTurns} turns · ${formatCost(r.totalCostUsd)}` +
        ` · ${r.resultAttempts} result attempt${r.resultAttempts === 1 ? '' : 's'}`,
    ];
    lines.push(...formatChanges(e.workflowId, r.changes, r.push).map((l) => `  ${l}`));
    if (r.artifactsDir) lines.push(`  transcripts: ${r.artifactsDir} (ccflow logs ${e.workflowId})`);
    return lines;
  }
  const lines = [
    `✗ ${e.status} after ${formatDuration(e.elapsedMs)}: ${e.failureType ? `${e.failureType}: ` : ''}${oneLine(e.message, 400)}`,
  ];
  if (e.artifactsDir) lines.push(`  transcripts: ${e.artifactsDir} (ccflow logs ${e.workflowId})`);
  return lines;
}

/**
 * The live block a terminal shows and redraws in place: a headline, then what the agent is
 * doing. Lines are cut to `width` so redrawing (cursor up N lines) stays exact.
 */
export function renderFrame(e: ProgressSnapshot, width = 100): string[] {
  const lines = [`● ${e.workflowId} · ${headline(e)}`];
  if (e.activity) lines.push(`  step:  ${describeActivity(e.activity)}`);
  if (e.tool) lines.push(`  tool:  ${oneLine(e.tool, 200)}${e.toolRunning ? ' …' : ''}`);
  if (e.text) lines.push(`  agent: ${oneLine(e.text, 200)}`);
  if (e.steps?.length) lines.push(`  steps: ${describeSteps(e.steps)}`);
  if (e.lastResultErrors?.length && e.phase === 'correcting') lines.push(`  fixing result: ${oneLine(e.lastResultErrors.join('; '), 200)}`);
  if (e.approval) lines.push(...describeApproval(e.workflowId, e.approval, e.at));
  return lines.map((l) => cut(l, width));
}

/** The lines that say a call waits for a human, and how to answer. */
export function describeApproval(workflowId: string, a: NonNullable<ProgressSnapshot['approval']>, now: number): string[] {
  const lines = [`  waits: ${a.requestId} ${a.toolName} ${oneLine(a.input, 160)} (for ${formatDuration(now - a.requestedAt)})`];
  const about = [
    ...(a.rules.length ? [`rule ${a.rules.join(', ')}`] : []),
    ...(a.expiresAt !== undefined ? [`answer within ${formatDuration(a.expiresAt - now)}`] : []),
    a.sandboxReleased ? 'sandbox released (restored on the answer)' : 'sandbox kept',
  ];
  lines.push(`         ${about.join(' · ')}`);
  if (a.agentText) lines.push(`         agent: ${oneLine(a.agentText, 160)}`);
  lines.push(`         ccflow approve ${workflowId}   (or --deny --reason "...")`);
  return lines;
}

function describeSteps(steps: NonNullable<ProgressSnapshot['steps']>): string {
  return steps.map((s) => `${s.name} ${s.state}`).join(' · ');
}

function cut(line: string, width: number): string {
  const chars = [...line];
  return chars.length > width ? `${chars.slice(0, Math.max(1, width - 1)).join('')}…` : line;
}

/** ANSI: move up over the previous frame and clear it, then print the new one. */
export function redraw(previousLines: number, lines: readonly string[]): string {
  const up = previousLines > 0 ? `\x1b[${previousLines}A\r\x1b[J` : '';
  return `${up}${lines.join('\n')}\n`;
}

/**
 * Line-based progress for logs and pipes (not a TTY): one timestamped line per change of
 * phase, step, attempt, tool or agent text, never a redraw.
 */
export class LineProgressView {
  #phase?: string;
  #activity?: string;
  #tool?: string;
  #text?: string;
  #resultErrors?: string;
  #steps?: string;
  #approval?: string;

  update(e: ProgressEvent): string[] {
    const t = `[${formatDuration(e.elapsedMs).padStart(6)}]`;
    if (e.type !== 'progress') return renderEnd(e).map((l, i) => (i === 0 ? `${t} ${l}` : `${' '.repeat(t.length)} ${l}`));
    const out: string[] = [];
    if (e.phase !== this.#phase) {
      this.#phase = e.phase;
      out.push(`${t} ${headline(e, { clock: false })}`);
    }
    const resultErrors = e.lastResultErrors?.join('; ');
    if (resultErrors && resultErrors !== this.#resultErrors) out.push(`${t} result rejected: ${oneLine(resultErrors, 200)}`);
    this.#resultErrors = resultErrors ?? this.#resultErrors;
    const steps = e.steps?.length ? describeSteps(e.steps) : undefined;
    if (steps && steps !== this.#steps) out.push(`${t} steps: ${steps}`);
    this.#steps = steps ?? this.#steps;
    const activity = e.activity ? describeActivity(e.activity) : undefined;
    if (activity && activity !== this.#activity) out.push(`${t} step: ${activity}`);
    this.#activity = activity;
    if (e.text && e.text !== this.#text) out.push(`${t} agent: ${oneLine(e.text, 200)}`);
    this.#text = e.text ?? this.#text;
    if (e.tool && e.tool !== this.#tool) out.push(`${t} tool: ${oneLine(e.tool, 200)}`);
    this.#tool = e.tool ?? this.#tool;
    const approval = e.approval ? `${e.approval.requestId}:${e.approval.sandboxReleased ? 'released' : 'kept'}` : undefined;
    if (e.approval && approval !== this.#approval)
      out.push(...describeApproval(e.workflowId, e.approval, e.at).map((l) => `${t} ${l.trim()}`));
    this.#approval = approval;
    return out;
  }
}

export type { ProgressEvent, ProgressFailure, ProgressResult, ProgressSnapshot } from '../../schemas/progress.js';
