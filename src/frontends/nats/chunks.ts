import { toolResultText } from '../../schemas/live-events.js';

/**
 * Response chunks of the agent protocol (§6), byte for byte as seed 002's host writes them:
 * one compact `{"type","data"}` JSON object per NATS message, no headers. Tool calls, results
 * and cost travel as `status` strings with a `<tag>:` prefix and compact JSON after the first
 * colon, which the web workspace splits into tool cards and cost badges; callers that do not
 * know a tag show it as an opaque status.
 */

export type Chunk =
  | { type: 'status'; data: string }
  | { type: 'response'; data: string }
  | { type: 'query'; data: { id: string; reply_subject: string; prompt: string } };

/** Caps from seed 002, in UTF-16 code units (JS string length), which is what it measures. */
export const TOOL_INPUT_MAX_CHARS = 4000;
export const TOOL_INPUT_PREVIEW_CHARS = 1000;
export const TOOL_RESULT_MAX_CHARS = 4000;
export const TRUNCATION_MARKER = '…[truncated]';

export function encodeChunk(chunk: Chunk): string {
  return JSON.stringify(chunk);
}

export const ACK: Chunk = { type: 'status', data: 'ack' };

export function responseChunk(text: string): Chunk {
  return { type: 'response', data: text };
}

/** `tool_use:{id,name,input}`; an input over 4000 characters is replaced by a preview object. */
export function toolUseChunk(id: string, name: string, input: unknown): Chunk {
  const json = JSON.stringify(input ?? {});
  const shown =
    json.length > TOOL_INPUT_MAX_CHARS
      ? { _truncated: true, _original_size_bytes: json.length, _preview: json.slice(0, TOOL_INPUT_PREVIEW_CHARS) + TRUNCATION_MARKER }
      : (input ?? {});
  return { type: 'status', data: `tool_use:${JSON.stringify({ id, name, input: shown })}` };
}

/** `tool_result:{tool_use_id,output,is_error}` with the output flattened to text and capped. */
export function toolResultChunk(toolUseId: string, content: unknown, isError: boolean): Chunk {
  let output = toolResultText(content);
  if (output.length > TOOL_RESULT_MAX_CHARS) output = output.slice(0, TOOL_RESULT_MAX_CHARS) + TRUNCATION_MARKER;
  return { type: 'status', data: `tool_result:${JSON.stringify({ tool_use_id: toolUseId, output, is_error: isError })}` };
}

export function costChunk(turnCostUsd: number, totalCostUsd: number): Chunk {
  return { type: 'status', data: `cost:${JSON.stringify({ turn_cost_usd: turnCostUsd, total_cost_usd: totalCostUsd })}` };
}

export function queryChunk(id: string, replySubject: string, prompt: string): Chunk {
  return { type: 'query', data: { id, reply_subject: replySubject, prompt } };
}
