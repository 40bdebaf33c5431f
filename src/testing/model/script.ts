/**
 * The script format played by the scripted model server (see `server.ts`).
 *
 * A script is a list of conversations. Each main request from the Claude Code
 * CLI is mapped to one conversation (by regex on the first user message) and
 * to one step of it (by how many assistant turns the request already holds),
 * so step selection is stateless and works for many concurrent sessions and
 * for `--resume`d ones.
 *
 * These zod schemas are the single source of truth; the TypeScript types are
 * inferred from them. Objects are strict so a typo such as `toolUses` is
 * reported instead of silently ignored.
 *
 * Example (JSON):
 * ```json
 * { "conversations": [ { "match": "hello", "steps": [
 *   { "text": "I'll write the file.", "toolUse": [{ "name": "Bash", "input": { "command": "echo hi > hello.txt" } }] },
 *   { "failFirst": [{ "status": 429, "retryAfterSeconds": 1 }], "text": "Done." }
 * ] } ] }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** One `tool_use` block the scripted assistant emits. */
export const ScriptToolUseSchema = z.strictObject({
  /** Tool name as the CLI advertises it, e.g. `Bash` or `mcp__ccflow__submit_result`. */
  name: z.string().min(1),
  /** Tool input object; sent to the CLI as `input_json_delta` chunks. */
  input: z.record(z.string(), z.unknown()).default({}),
});
export type ScriptToolUse = z.infer<typeof ScriptToolUseSchema>;

/** An injected HTTP error, answered with Anthropic's error JSON shape. */
export const ScriptFailureSchema = z.strictObject({
  /** HTTP status, e.g. 429 (rate limit), 529 (overloaded), 500, 401. */
  status: z.number().int().min(400).max(599),
  /** Anthropic error type; derived from the status when omitted (429 -> `rate_limit_error`, ...). */
  type: z.string().min(1).optional(),
  /** Human readable message; a generic one is used when omitted. */
  message: z.string().optional(),
  /** Sent as the `retry-after` response header (seconds) when given. */
  retryAfterSeconds: z.number().int().nonnegative().optional(),
  /**
   * Sent as the `x-should-retry` header when given. The CLI (2.1.330) retries
   * 401/429/5xx up to 10 times over ~3 minutes; `false` makes it give up at once,
   * which keeps permanent-error tests fast. Defaults: unset for `failFirst`,
   * `false` for a step's permanent `error` (retrying it can never succeed).
   */
  shouldRetry: z.boolean().optional(),
});
export type ScriptFailure = z.infer<typeof ScriptFailureSchema>;

/** Token counts to report instead of the server's size-based estimate. */
export const ScriptUsageSchema = z.strictObject({
  inputTokens: z.number().int().nonnegative().optional(),
  outputTokens: z.number().int().nonnegative().optional(),
});
export type ScriptUsage = z.infer<typeof ScriptUsageSchema>;

/**
 * One assistant turn. Answers with `text` (if any) followed by the `toolUse`
 * blocks (if any); the stop reason is `tool_use` when there are tool uses and
 * `end_turn` otherwise.
 */
export const ScriptStepSchema = z
  .strictObject({
    /** Assistant text block, emitted before any tool uses. */
    text: z.string().optional(),
    /** Tool calls to make; non-empty means `stop_reason: "tool_use"`. */
    toolUse: z.array(ScriptToolUseSchema).optional(),
    /**
     * Transient errors: the first N requests of one conversation that land on
     * this step get these errors in order, later ones get the normal answer.
     */
    failFirst: z.array(ScriptFailureSchema).optional(),
    /**
     * Whom `failFirst` counts for: each session on its own (`session`, the default), or every
     * session of this script conversation together (`conversation`: a model that fails N times
     * in all, so a run retried under a new session id gets through).
     */
    failScope: z.enum(['session', 'conversation']).optional(),
    /**
     * Permanent error: every request landing on this step gets it, with
     * `x-should-retry: false` unless `shouldRetry` says otherwise.
     */
    error: ScriptFailureSchema.optional(),
    /** Wait this long before the response (or error) starts. */
    delayMs: z.number().int().nonnegative().optional(),
    /**
     * Delay only the first N requests that land on this step of this script conversation,
     * in any session (e.g. a model that stalls once, then answers a retried run at once).
     * Every request is delayed when absent.
     */
    delayTimes: z.number().int().positive().optional(),
    /** Override the reported token usage for this step. */
    usage: ScriptUsageSchema.optional(),
  })
  .refine((s) => s.text !== undefined || (s.toolUse?.length ?? 0) > 0 || s.error !== undefined, {
    message: 'a step needs at least one of "text", "toolUse" (non-empty) or "error"',
  });
export type ScriptStep = z.infer<typeof ScriptStepSchema>;

/** A regex source string, validated by compiling it. */
const RegexSourceSchema = z.string().refine(
  (src) => {
    try {
      new RegExp(src);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

/** The steps for every session whose first user message matches `match`. */
export const ScriptConversationSchema = z.strictObject({
  /** Optional label, only for humans and error messages. */
  name: z.string().optional(),
  /**
   * Regex (JavaScript syntax, no flags) tested against the first user
   * message's text, with `<system-reminder>` blocks removed. Omitted = matches
   * every conversation.
   */
  match: RegexSourceSchema.optional(),
  /** Step i answers the request that already holds i assistant messages. */
  steps: z.array(ScriptStepSchema),
});
export type ScriptConversation = z.infer<typeof ScriptConversationSchema>;

/** A whole script; the first matching conversation wins. */
export const ModelScriptSchema = z.strictObject({
  conversations: z.array(ScriptConversationSchema).min(1),
});
export type ModelScript = z.infer<typeof ModelScriptSchema>;
/** What a script author writes (defaults such as `input: {}` not yet applied). */
export type ModelScriptInput = z.input<typeof ModelScriptSchema>;

/** Raised when a script cannot be read, parsed or validated. */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';
}

/** Renders zod issues as `conversations[0].steps[1].toolUse[0].name: message` lines. */
function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      let where = '';
      for (const key of issue.path) {
        where += typeof key === 'number' ? `[${key}]` : where === '' ? String(key) : `.${String(key)}`;
      }
      return `  ${where === '' ? '(root)' : where}: ${issue.message}`;
    })
    .join('\n');
}

/**
 * Validates an already-parsed script value.
 * @param source names the script in error messages (e.g. its file path).
 */
export function parseScript(value: unknown, source = 'model script'): ModelScript {
  const result = ModelScriptSchema.safeParse(value);
  if (!result.success) {
    throw new ScriptError(`invalid ${source}:\n${formatIssues(result.error)}`);
  }
  return result.data;
}

/** Reads, parses and validates a JSON script file. */
export async function loadScript(path: string): Promise<ModelScript> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    throw new ScriptError(`cannot read model script ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new ScriptError(`model script ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseScript(value, `model script ${path}`);
}
