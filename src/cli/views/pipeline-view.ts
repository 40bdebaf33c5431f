import type { PipelineResult, PipelineStepStatus } from '../../schemas/messages.js';

/** One line per step state change, for people. */
export function formatStepChange(step: PipelineStepStatus): string {
  const name = step.name.padEnd(14);
  const state = step.state.padEnd(9);
  switch (step.state) {
    case 'running':
      return `  ${name} ${state} ${step.workflowId ?? ''}`.trimEnd();
    case 'waiting':
      return `  ${name} ${state} ${step.approval ? `${step.approval.toolName} call ${step.approval.requestId} waits for approval: ccflow approve ${step.workflowId ?? ''}`.trimEnd() : 'for approval'}`;
    case 'done':
      return `  ${name} ${state} ${step.numTurns} turns · $${step.costUsd.toFixed(4)} · ${(step.durationMs / 1000).toFixed(1)} s`;
    case 'failed':
      return `  ${name} ${state} ${step.error ?? ''}`;
    case 'skipped':
      return `  ${name} ${state} ${step.reason ?? ''}`;
    default:
      return `  ${name} ${state}`;
  }
}

/** The results of a finished pipeline, for people. */
export function formatPipelineResult(r: PipelineResult): string {
  const steps = Object.values(r.steps);
  const count = (s: string) => steps.filter((x) => x.state === s).length;
  const lines = [
    `pipeline ${r.workflowId}${r.name ? ` (${r.name})` : ''}: ${count('done')} done, ${count('skipped')} skipped, ${count('failed')} failed` +
      ` · ${r.numTurns} turns · $${r.totalCostUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  for (const s of steps) {
    if (s.state === 'done') {
      lines.push(`${s.name}:`, indent(JSON.stringify(s.result, null, 2)));
    } else {
      lines.push(`${s.name}: ${s.state}${s.reason ? ` (${s.reason})` : ''}${s.error ? `: ${s.error}` : ''}`);
    }
  }
  return lines.join('\n');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
