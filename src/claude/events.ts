import { z } from 'zod';

/**
 * The stream-json events of `claude -p --output-format stream-json --verbose` (Claude Code
 * 2.1.x), as zod schemas. Objects are loose: the CLI adds fields between versions and we only
 * pin down what ccflow reads. Shapes were taken from real runs of the pinned CLI.
 */

const TextBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const ToolUseBlock = z.looseObject({
  type: z.literal('tool_use'),
  id: z.string(),
  name: z.string(),
  input: z.unknown(),
});
const ToolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string(),
  is_error: z.boolean().optional(),
  content: z.unknown().optional(),
});
const OtherBlock = z.looseObject({ type: z.string() });

export const AssistantContentBlock = z.union([TextBlock, ToolUseBlock, OtherBlock]);
export type AssistantContentBlock = z.infer<typeof AssistantContentBlock>;

export const SystemInitEvent = z.looseObject({
  type: z.literal('system'),
  subtype: z.literal('init'),
  session_id: z.string(),
  model: z.string().optional(),
  cwd: z.string().optional(),
  tools: z.array(z.string()).optional(),
  permissionMode: z.string().optional(),
  mcp_servers: z.array(z.looseObject({ name: z.string(), status: z.string() })).default([]),
});

/** Other `system` lines (e.g. API retry notices, compaction); kept for the record. */
export const SystemOtherEvent = z.looseObject({
  type: z.literal('system'),
  subtype: z.string(),
  session_id: z.string().optional(),
});

export const AssistantEvent = z.looseObject({
  type: z.literal('assistant'),
  session_id: z.string().optional(),
  parent_tool_use_id: z.string().nullable().optional(),
  message: z.looseObject({
    id: z.string().optional(),
    model: z.string().optional(),
    content: z.array(AssistantContentBlock),
    usage: z.looseObject({}).optional(),
  }),
});

export const UserEvent = z.looseObject({
  type: z.literal('user'),
  session_id: z.string().optional(),
  parent_tool_use_id: z.string().nullable().optional(),
  message: z.looseObject({
    content: z.union([z.string(), z.array(z.union([ToolResultBlock, OtherBlock]))]),
  }),
});

/**
 * With `--include-partial-messages` the CLI also prints the model's raw stream events, wrapped;
 * ccflow reads only text deltas from them (per-token text for live relays). The complete
 * `assistant` lines still follow, so nothing else depends on these.
 */
export const PartialEvent = z.looseObject({
  type: z.literal('stream_event'),
  uuid: z.string().optional(),
  session_id: z.string().optional(),
  parent_tool_use_id: z.string().nullable().optional(),
  event: z.looseObject({
    type: z.string(),
    index: z.number().optional(),
    delta: z.looseObject({ type: z.string(), text: z.string().optional() }).optional(),
  }),
});

export const RESULT_SUBTYPES = ['success', 'error_max_turns', 'error_during_execution', 'error_max_budget_usd'] as const;

export const ResultEvent = z.looseObject({
  type: z.literal('result'),
  subtype: z.string(),
  is_error: z.boolean(),
  session_id: z.string(),
  num_turns: z.number().int().nonnegative().default(0),
  total_cost_usd: z.number().nonnegative().default(0),
  duration_ms: z.number().nonnegative().optional(),
  duration_api_ms: z.number().nonnegative().optional(),
  result: z.string().optional(),
  usage: z.looseObject({}).optional(),
  permission_denials: z.array(z.unknown()).optional(),
  errors: z.array(z.unknown()).optional(),
  /** HTTP status of the API error that ended the run (with `is_error`, `terminal_reason: "api_error"`). */
  api_error_status: z.number().int().nullable().optional(),
  terminal_reason: z.string().nullable().optional(),
});

export type SystemInitEvent = z.infer<typeof SystemInitEvent>;
export type SystemOtherEvent = z.infer<typeof SystemOtherEvent>;
export type AssistantEvent = z.infer<typeof AssistantEvent>;
export type UserEvent = z.infer<typeof UserEvent>;
export type ResultEvent = z.infer<typeof ResultEvent>;
export type PartialEvent = z.infer<typeof PartialEvent>;

export type StreamEvent =
  | { kind: 'init'; event: SystemInitEvent }
  | { kind: 'system'; event: SystemOtherEvent }
  | { kind: 'assistant'; event: AssistantEvent }
  | { kind: 'user'; event: UserEvent }
  | { kind: 'result'; event: ResultEvent }
  | { kind: 'partial'; event: PartialEvent }
  /** Valid JSON with a `type` ccflow does not know (newer CLI, partial messages, hooks). */
  | { kind: 'unknown'; type: string }
  /** A line that is not JSON, or JSON that does not fit its type's schema. */
  | { kind: 'garbage'; line: string; reason: string };

const GARBAGE_SAMPLE_CHARS = 200;

/** Parses one stream-json line. Never throws: bad input becomes a `garbage` event. */
export function parseStreamLine(line: string): StreamEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'garbage', line: line.slice(0, GARBAGE_SAMPLE_CHARS), reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'garbage', line: line.slice(0, GARBAGE_SAMPLE_CHARS), reason: 'not a JSON object' };
  }
  const type = (value as { type?: unknown }).type;
  const subtype = (value as { subtype?: unknown }).subtype;
  const check = <K extends StreamEvent['kind'], S extends z.ZodType>(kind: K, schema: S): StreamEvent => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const reason = `${String(type)} event: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`;
      return { kind: 'garbage', line: line.slice(0, GARBAGE_SAMPLE_CHARS), reason };
    }
    return { kind, event: parsed.data } as StreamEvent;
  };
  switch (type) {
    case 'system':
      return subtype === 'init' ? check('init', SystemInitEvent) : check('system', SystemOtherEvent);
    case 'assistant':
      return check('assistant', AssistantEvent);
    case 'user':
      return check('user', UserEvent);
    case 'result':
      return check('result', ResultEvent);
    case 'stream_event':
      return check('partial', PartialEvent);
    default:
      return typeof type === 'string'
        ? { kind: 'unknown', type }
        : { kind: 'garbage', line: line.slice(0, GARBAGE_SAMPLE_CHARS), reason: 'no "type" field' };
  }
}
