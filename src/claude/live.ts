import type { StreamEvent } from './events.js';
import { LIVE_TOOL_RESULT_MAX_CHARS, capText, capToolInput, toolResultText, type LiveEventBody } from '../schemas/live-events.js';

/**
 * What a stream-json event shows live: token deltas (from `--include-partial-messages`), tool
 * calls and tool results. Each comes with an id that is the same whenever the same line is read
 * again (a retried attempt re-reads from its last recorded offset), so relays can drop repeats.
 * The assistant's complete text blocks are not repeated: their deltas already went out.
 */
export function liveBodies(e: StreamEvent): { eid: string; body: LiveEventBody }[] {
  switch (e.kind) {
    case 'partial': {
      const ev = e.event.event;
      const text = ev.type === 'content_block_delta' && ev.delta?.type === 'text_delta' ? ev.delta.text : undefined;
      if (!text || !e.event.uuid) return [];
      return [{ eid: `delta:${e.event.uuid}`, body: { type: 'text', text } }];
    }
    case 'assistant':
      return e.event.message.content.flatMap((block) =>
        block.type === 'tool_use' && 'id' in block && 'name' in block && typeof block.name === 'string'
          ? [
              {
                eid: `use:${String(block.id)}`,
                body: { type: 'tool_use' as const, id: String(block.id), name: block.name, input: capToolInput(block.input) },
              },
            ]
          : [],
      );
    case 'user': {
      const content = e.event.message.content;
      if (!Array.isArray(content)) return [];
      return content.flatMap((block) =>
        block.type === 'tool_result' && 'tool_use_id' in block
          ? [
              {
                eid: `result:${String(block.tool_use_id)}`,
                body: {
                  type: 'tool_result' as const,
                  toolUseId: String(block.tool_use_id),
                  output: capText(toolResultText('content' in block ? block.content : undefined), LIVE_TOOL_RESULT_MAX_CHARS),
                  isError: 'is_error' in block && block.is_error === true,
                },
              },
            ]
          : [],
      );
    }
    default:
      return [];
  }
}
