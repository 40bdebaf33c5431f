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

/** The message that resumes a session whose result was missing or invalid. */
export function correctivePromptText(problem: { kind: 'missing' } | { kind: 'invalid'; errors: readonly string[] }): string {
  const what =
    problem.kind === 'missing'
      ? `You ended without a successful call to \`${SUBMIT_RESULT_TOOL}\`, so no result was recorded.`
      : `The result you submitted does not match the required format:\n${problem.errors.map((e) => `- ${e}`).join('\n')}`;
  return `${what}\n\nCall \`${SUBMIT_RESULT_TOOL}\` now, once, with a result that matches the required format.`;
}
