/**
 * What ccflow says to the agent. Pure text helpers (no imports), so workflow code can use them.
 */

/** Name the result MCP server is registered under; its tool is `mcp__ccflow__submit_result`. */
export const RESULT_SERVER_NAME = 'ccflow';
export const SUBMIT_RESULT_TOOL = `mcp__${RESULT_SERVER_NAME}__submit_result`;

/** The instruction appended to every task prompt: how the agent hands its result back. */
export function taskPromptText(userPrompt: string): string {
  return (
    `${userPrompt.trim()}\n\n` +
    `When you have finished, call the \`${SUBMIT_RESULT_TOOL}\` tool exactly once with your final result. ` +
    `Its parameters are the required result format. The task is not complete until that call succeeds.`
  );
}

/** Files a prompt brings along may total this much (decoded); they travel in workflow history. */
export const MAX_ATTACHMENT_BYTES = 512 * 1024;

/** A filename safe on any file system: odd runs become `_`, no leading dots, never empty. */
export function safeAttachmentName(name: string): string {
  const safe = name
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length))
    .slice(0, 255);
  return safe.length > 0 ? safe : 'file';
}

/** The prompt with the paths of its attachments announced first (the agent protocol's wording). */
export function withAttachmentPaths(prompt: string, paths: readonly string[]): string {
  if (paths.length === 0) return prompt;
  return ['[Attachments available at the following absolute paths]', ...paths.map((p) => `- ${p}`), '', prompt].join('\n');
}

/** The message that resumes a session whose result was missing or invalid. */
export function correctivePromptText(problem: { kind: 'missing' } | { kind: 'invalid'; errors: readonly string[] }): string {
  const what =
    problem.kind === 'missing'
      ? `You ended without a successful call to \`${SUBMIT_RESULT_TOOL}\`, so no result was recorded.`
      : `The result you submitted does not match the required format:\n${problem.errors.map((e) => `- ${e}`).join('\n')}`;
  return `${what}\n\nCall \`${SUBMIT_RESULT_TOOL}\` now, once, with a result that matches the required format.`;
}
