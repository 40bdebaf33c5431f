/**
 * What the scripted model may read from a Messages API request: only what the CLI sent.
 * Pure functions over the parsed JSON body (and headers, for the session id).
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function messagesOf(body: Json): Json[] {
  const messages = body['messages'];
  return Array.isArray(messages) ? messages.filter(isObject) : [];
}

function blocksOf(content: unknown): Json[] {
  return Array.isArray(content) ? content.filter(isObject) : [];
}

/**
 * Main conversation turns always carry the agent's tool list; the CLI's side
 * requests (title/topic generation, quota probes) carry no tools.
 */
export function isSideRequest(body: unknown): boolean {
  if (!isObject(body)) return true;
  const tools = body['tools'];
  return !Array.isArray(tools) || tools.length === 0;
}

/** Text of a message's content (string or blocks), `<system-reminder>`s removed. */
function contentText(content: unknown): string {
  const parts: string[] = [];
  if (typeof content === 'string') parts.push(content);
  for (const block of blocksOf(content)) {
    if (block['type'] === 'text' && typeof block['text'] === 'string') parts.push(block['text']);
  }
  return parts
    .map((p) => p.replace(/<system-reminder>[\s\S]*?<\/system-reminder>/g, '').trim())
    .filter((p) => p !== '')
    .join('\n');
}

/** The prompt that identifies a conversation: text of the first user message. */
export function firstUserText(body: unknown): string {
  if (!isObject(body)) return '';
  const first = messagesOf(body).find((m) => m['role'] === 'user');
  return first ? contentText(first['content']) : '';
}

/** Stateless step selection: the number of assistant turns already taken. */
export function stepIndexOf(body: unknown): number {
  if (!isObject(body)) return 0;
  return messagesOf(body).filter((m) => m['role'] === 'assistant').length;
}

/**
 * The CLI session id: `metadata.user_id` is a JSON string with `session_id`
 * (older CLIs used `..._session_<id>`); the `x-claude-code-session-id` header
 * carries the same id.
 */
export function sessionIdOf(body: unknown, headers: IncomingHttpHeaders): string | undefined {
  if (isObject(body) && isObject(body['metadata'])) {
    const userId = body['metadata']['user_id'];
    if (typeof userId === 'string') {
      try {
        const parsed: unknown = JSON.parse(userId);
        if (isObject(parsed) && typeof parsed['session_id'] === 'string' && parsed['session_id'] !== '') {
          return parsed['session_id'];
        }
      } catch {
        const m = /_session_([0-9a-f-]+)$/i.exec(userId);
        if (m?.[1]) return m[1];
      }
    }
  }
  const header = headers['x-claude-code-session-id'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

/**
 * Conversation identity for `failFirst` counters: session id plus a hash of the
 * first user message (subagents share their parent's session id but have their
 * own first message). Without a session id, the hash alone.
 */
export function conversationKeyOf(sessionId: string | undefined, prompt: string): string {
  const hash = createHash('sha256').update(prompt).digest('hex').slice(0, 16);
  return sessionId ? `${sessionId}:${hash}` : `prompt:${hash}`;
}

/**
 * The tools a model answering this request could call, as the Messages API decides it:
 * every entry of `tools` without `defer_loading: true`, plus the deferred ones a tool search
 * already loaded, which the CLI reports as `tool_reference` blocks inside a `tool_result`.
 * A deferred tool that was never loaded (claude 2.1.330 defers MCP tools, WebFetch and more
 * behind `ToolSearch`) is only a name to the model, not something it can call.
 */
export function offeredTools(body: unknown): string[] {
  if (!isObject(body) || !Array.isArray(body['tools'])) return [];
  const deferred = new Set<string>();
  const offered = new Set<string>();
  for (const tool of body['tools']) {
    if (!isObject(tool) || typeof tool['name'] !== 'string') continue;
    (tool['defer_loading'] === true ? deferred : offered).add(tool['name']);
  }
  for (const message of messagesOf(body)) {
    for (const block of blocksOf(message['content'])) {
      if (block['type'] !== 'tool_result') continue;
      for (const inner of blocksOf(block['content'])) {
        const name = inner['tool_name'];
        if (inner['type'] === 'tool_reference' && typeof name === 'string' && deferred.has(name)) offered.add(name);
      }
    }
  }
  return [...offered];
}
