import type { ResultEvent, StreamEvent, SystemInitEvent } from './events.js';
import { RESULT_SERVER_NAME, SUBMIT_RESULT_TOOL } from './args.js';

const TOOL_ARG_CHARS = 80;
const TEXT_CHARS = 200;
const RECENT_EVENTS = 20;

/** A short, human line for a tool call, e.g. `Bash: npm test` or `Write: src/app.ts`. */
export function describeToolUse(name: string, input: unknown): string {
  const obj = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const arg = ['command', 'file_path', 'path', 'pattern', 'url', 'description']
    .map((k) => obj[k])
    .find((v): v is string => typeof v === 'string');
  const oneLine = (arg ?? '').replace(/\s+/g, ' ').trim();
  if (!oneLine) return name;
  return `${name}: ${oneLine.length > TOOL_ARG_CHARS ? `${oneLine.slice(0, TOOL_ARG_CHARS - 1)}…` : oneLine}`;
}

/**
 * Folds stream events into what ccflow needs to know about a run: session, turns, tools in
 * flight, the result line, and a short ring of recent events for error reports. Holds no
 * transcript: memory stays flat however long the run.
 */
export class RunState {
  sessionId: string | undefined;
  init: SystemInitEvent | undefined;
  result: ResultEvent | undefined;
  turns = 0;
  lastTool: string | undefined;
  lastText: string | undefined;
  garbageLines = 0;
  unknownTypes = new Set<string>();
  readonly #pendingTools = new Set<string>();
  #lastMessageId: string | undefined;
  readonly #recent: string[] = [];

  get pendingTools(): number {
    return this.#pendingTools.size;
  }

  /** Status of the result MCP server in the init line (`connected`, `failed`, ...). */
  get resultServerStatus(): string | undefined {
    return this.init?.mcp_servers.find((s) => s.name === RESULT_SERVER_NAME)?.status;
  }

  /**
   * Whether the init line lists the result tool. Necessary, not sufficient: the line lists
   * MCP tools even when the CLI defers them, so only the model request proves it was offered.
   */
  get resultToolListed(): boolean {
    return this.init?.tools?.includes(SUBMIT_RESULT_TOOL) ?? false;
  }

  /** The last few events, one short line each, oldest first. */
  get recentEvents(): readonly string[] {
    return this.#recent;
  }

  apply(e: StreamEvent): void {
    switch (e.kind) {
      case 'init':
        this.init = e.event;
        this.sessionId = e.event.session_id;
        this.#remember(`init: model=${e.event.model ?? '?'} mcp=${e.event.mcp_servers.map((s) => `${s.name}:${s.status}`).join(',')}`);
        break;
      case 'assistant': {
        // The CLI prints one line per content block, all with their message's id: a turn is
        // a new message id from the main agent (not a subagent).
        const id = e.event.message.id;
        if (e.event.parent_tool_use_id == null && (id === undefined || id !== this.#lastMessageId)) this.turns += 1;
        this.#lastMessageId = id;
        for (const block of e.event.message.content) {
          if (block.type === 'text' && 'text' in block && typeof block.text === 'string' && block.text.trim()) {
            this.lastText = block.text.trim().slice(0, TEXT_CHARS);
            this.#remember(`text: ${this.lastText}`);
          } else if (block.type === 'tool_use' && 'id' in block && 'name' in block && typeof block.name === 'string') {
            this.#pendingTools.add(String(block.id));
            this.lastTool = describeToolUse(block.name, block.input);
            this.#remember(`tool: ${this.lastTool}`);
          }
        }
        break;
      }
      case 'user': {
        const content = e.event.message.content;
        if (Array.isArray(content)) {
          for (const block of content) {
            if (block.type === 'tool_result' && 'tool_use_id' in block) {
              this.#pendingTools.delete(String(block.tool_use_id));
              if (block.is_error === true) this.#remember(`tool error: ${summarizeContent(block.content)}`);
            }
          }
        }
        break;
      }
      case 'result':
        this.result = e.event;
        this.sessionId = e.event.session_id;
        this.#remember(`result: ${e.event.subtype}${e.event.is_error ? ' (error)' : ''} turns=${e.event.num_turns}`);
        break;
      case 'system':
        this.#remember(`system: ${e.event.subtype}`);
        break;
      case 'unknown':
        this.unknownTypes.add(e.type);
        break;
      case 'garbage':
        this.garbageLines += 1;
        this.#remember(`unparsed line (${e.reason}): ${e.line.slice(0, 80)}`);
        break;
    }
  }

  #remember(line: string): void {
    this.#recent.push(line.length > TEXT_CHARS ? `${line.slice(0, TEXT_CHARS - 1)}…` : line);
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
  }
}

function summarizeContent(content: unknown): string {
  const text = typeof content === 'string' ? content : JSON.stringify(content ?? '');
  return text.replace(/\s+/g, ' ').slice(0, 120);
}
