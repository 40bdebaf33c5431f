import { DEFAULT_ALLOWED_TOOLS } from './constants.js';

/**
 * How a task introduces itself to people: a one-line summary and a short Markdown block of
 * details, shown by Temporal Web UI. Pure (no imports), so workflow code can use it too.
 */

/** What the summary reads of a task spec (given or validated). */
export interface DescribedTask {
  prompt?: string | undefined;
  model?: string | undefined;
  allowedTools?: readonly string[] | undefined;
  permissionMode?: string | undefined;
  sandbox?: { provider?: string | undefined } | undefined;
  maxTurns?: number | undefined;
  maxBudgetUsd?: number | undefined;
  files?: Record<string, string> | undefined;
  resultSchema?: unknown;
}

const SUMMARY_CHARS = 120;
const SCHEMA_CHARS = 1_500;
const DEFAULT_SCHEMA_NOTE = { summary: 'string (the default result schema)' };

/** The prompt's first non-empty line, shortened: the workflow's summary in the UI. */
export function taskSummary(prompt: string | undefined): string {
  if (prompt === undefined) return 'An open session, waiting for its first prompt';
  const first =
    prompt
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  return first.length > SUMMARY_CHARS ? `${first.slice(0, SUMMARY_CHARS - 1)}…` : first;
}

/** Model, tools, limits and result schema, as Markdown. */
export function taskDetails(spec: DescribedTask): string {
  const limits = [
    spec.maxTurns !== undefined ? `max ${spec.maxTurns} turns` : undefined,
    spec.maxBudgetUsd !== undefined ? `max $${spec.maxBudgetUsd}` : undefined,
  ].filter(Boolean);
  const schema = JSON.stringify(spec.resultSchema ?? DEFAULT_SCHEMA_NOTE, null, 2);
  const lines = [
    `**Model:** ${spec.model ?? 'default'}`,
    `**Tools:** ${(spec.allowedTools ?? DEFAULT_ALLOWED_TOOLS).join(', ')}`,
    `**Permission mode:** ${spec.permissionMode ?? 'dontAsk'}`,
    `**Sandbox:** ${spec.sandbox?.provider ?? 'worker default'}`,
    ...(limits.length > 0 ? [`**Limits:** ${limits.join(', ')}`] : []),
    ...(spec.files ? [`**Seed files:** ${Object.keys(spec.files).length}`] : []),
    `**Result schema:**\n\n\`\`\`json\n${schema.length > SCHEMA_CHARS ? `${schema.slice(0, SCHEMA_CHARS - 1)}…` : schema}\n\`\`\``,
  ];
  return lines.join('\n\n');
}
