/**
 * History size: a task with one tool turn and a task with 200 tool turns run through the same
 * workflow; their histories should have the same events and stay small, whatever the agent did.
 */
import type { TaskResult } from '../src/schemas/task-spec.js';
import { TASK_QUEUE, type BenchEnv } from './lib/env.js';
import { fetchHistory, historySize, type HistorySize } from './lib/history.js';
import { MANY_TURNS, MANY_TURNS_PROMPT, ONE_TURN_PROMPT } from './scenario.js';
import { nowMs } from './timing-provider.js';

export interface HistoryRun extends HistorySize {
  label: string;
  workflowId: string;
  /** claude's own count of turns (assistant messages) over the task. */
  numTurns: number;
  wallMs: number;
}

export interface HistoryResult {
  runs: HistoryRun[];
  sameEventCount: boolean;
  /** Event types that differ between the two histories (in order), if any. */
  difference?: string;
}

async function run(env: BenchEnv, label: string, workflowId: string, prompt: string): Promise<HistoryRun> {
  const t0 = nowMs();
  const handle = await env.client.workflow.start('agentTask', { taskQueue: TASK_QUEUE, workflowId, args: [{ prompt }] });
  const result = (await handle.result()) as TaskResult;
  const wallMs = nowMs() - t0;
  return { label, workflowId, numTurns: result.numTurns, wallMs, ...historySize(await fetchHistory(env.client, workflowId)) };
}

export async function historyBench(env: BenchEnv, log: (s: string) => void): Promise<HistoryResult> {
  const one = await run(env, '1 tool turn', 'bench-history-1', ONE_TURN_PROMPT);
  log(`  history, 1 tool turn: ${one.events} events, ${one.protoBytes} bytes (${one.numTurns} claude turns)`);
  const many = await run(env, `${MANY_TURNS} tool turns`, `bench-history-${MANY_TURNS}`, MANY_TURNS_PROMPT);
  log(
    `  history, ${MANY_TURNS} tool turns: ${many.events} events, ${many.protoBytes} bytes (${many.numTurns} claude turns, ${(many.wallMs / 1000).toFixed(1)} s)`,
  );
  const same = one.eventTypes.join(',') === many.eventTypes.join(',');
  let difference: string | undefined;
  if (!same) {
    const i = one.eventTypes.findIndex((t, k) => many.eventTypes[k] !== t);
    difference = `from event ${i + 1}: ${one.eventTypes.slice(i, i + 4).join(', ')} vs ${many.eventTypes.slice(i, i + 4).join(', ')}`;
  }
  return { runs: [one, many], sameEventCount: one.events === many.events, difference };
}
