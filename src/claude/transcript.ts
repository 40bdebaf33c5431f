import { describeToolUse } from './run-state.js';
import { StreamJsonParser } from './stream.js';
import type { StreamEvent } from './events.js';

/**
 * A saved transcript rendered for people (`ccflow logs`, the MCP transcript resource). Pure:
 * bytes in, lines out. Reads the stream-json a run printed and the session file claude keeps
 * (its user and assistant lines have the same shape; its bookkeeping lines are skipped).
 * Tool results are shortened; everything else the agent said and did is there, in order.
 */

const TOOL_OUTPUT_LINES = 6;
const TOOL_OUTPUT_CHARS = 600;

function indent(text: string, prefix: string): string[] {
  return text.split('\n').map((l) => `${prefix}${l}`);
}

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((c) => (typeof c === 'object' && c !== null && 'text' in c && typeof c.text === 'string' ? c.text : JSON.stringify(c)))
      .join('\n');
  }
  return content === undefined ? '' : JSON.stringify(content);
}

function shorten(text: string): string {
  const trimmed = text.trim();
  const lines = trimmed.split('\n');
  let out = lines.slice(0, TOOL_OUTPUT_LINES).join('\n');
  if (out.length > TOOL_OUTPUT_CHARS) out = `${out.slice(0, TOOL_OUTPUT_CHARS)}…`;
  if (lines.length > TOOL_OUTPUT_LINES) out += `\n… (${lines.length - TOOL_OUTPUT_LINES} more lines)`;
  return out;
}

/** `Bash: npm test`; a tool without a usual argument (e.g. submit_result) shows its input as JSON. */
function describeTool(name: string, input: unknown): string {
  const described = describeToolUse(name, input);
  if (described !== name || typeof input !== 'object' || input === null || Object.keys(input).length === 0) return described;
  const json = JSON.stringify(input);
  return `${name} ${json.length > 160 ? `${json.slice(0, 159)}…` : json}`;
}

function renderEvent(e: StreamEvent): string[] {
  switch (e.kind) {
    case 'init': {
      const mcp = e.event.mcp_servers.map((s) => `${s.name} ${s.status}`).join(', ');
      return [`session ${e.event.session_id} · model ${e.event.model ?? '?'}${mcp ? ` · mcp: ${mcp}` : ''}`];
    }
    case 'assistant': {
      const sub = e.event.parent_tool_use_id ? '  (subagent) ' : '';
      const out: string[] = [];
      for (const block of e.event.message.content) {
        if (block.type === 'text' && 'text' in block && typeof block.text === 'string' && block.text.trim()) {
          out.push(...indent(block.text.trim(), `${sub}assistant │ `));
        } else if (block.type === 'tool_use' && 'name' in block && typeof block.name === 'string') {
          out.push(`${sub}  → ${describeTool(block.name, 'input' in block ? block.input : undefined)}`);
        }
      }
      return out;
    }
    case 'user': {
      const content = e.event.message.content;
      if (typeof content === 'string') return indent(content.trim(), 'user │ ');
      const out: string[] = [];
      for (const block of content) {
        if (block.type === 'tool_result' && 'tool_use_id' in block) {
          const text = shorten(toolResultText('content' in block ? block.content : undefined));
          const mark = 'is_error' in block && block.is_error === true ? '✗' : '←';
          out.push(...(text ? indent(text, `    ${mark} `) : [`    ${mark} (no output)`]));
        }
      }
      return out;
    }
    case 'result': {
      const r = e.event;
      const secs = r.duration_ms !== undefined ? ` · ${(r.duration_ms / 1000).toFixed(1)} s` : '';
      return [`result: ${r.subtype}${r.is_error ? ' (error)' : ''} · ${r.num_turns} turns · $${r.total_cost_usd.toFixed(4)}${secs}`];
    }
    case 'system':
      return [`system: ${e.event.subtype}`];
    case 'unknown':
    case 'partial': // token deltas; the complete assistant lines that follow are rendered
      return [];
    case 'garbage':
      return [`(unparsed line: ${e.reason})`];
  }
}

/** Renders one run's transcript (stream-json bytes). */
export function renderTranscript(bytes: Buffer | string): string[] {
  const parser = new StreamJsonParser();
  const events = [...parser.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)), ...parser.end()];
  return events.flatMap(renderEvent);
}

/** The header above each run in `ccflow logs`: `── run-2 · attempt 1 ──`. */
export function runHeader(name: string): string {
  const m = /runs\/([^/]+)\/a(\d+)\//.exec(name);
  const label = m ? `${m[1]} · attempt ${m[2]}` : name;
  return `── ${label} ${'─'.repeat(Math.max(3, 60 - label.length))}`;
}
