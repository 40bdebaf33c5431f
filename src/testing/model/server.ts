/**
 * A scripted, Anthropic Messages API compatible HTTP server, so the real
 * `claude` CLI can run offline in tests and demos.
 *
 * Observed with claude 2.1.330 in `-p` mode (CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1):
 * - every turn is `POST /v1/messages?beta=true` with `stream: true`, the full
 *   `tools` list, `metadata.user_id` (a JSON string holding `session_id`) and an
 *   `x-claude-code-session-id` header with the same id;
 * - `messages` may contain `role: "system"` entries and the first user message
 *   starts with a `<system-reminder>` text block before the prompt;
 * - the CLI retries 401/429/5xx itself, 10 times with exponential backoff
 *   (~3 minutes in all), using `retry-after` as a floor; it gives up after 3
 *   consecutive 529s; `x-should-retry: false` stops retries at once.
 * Anything else (HEAD /, count_tokens, tool-less "side" requests such as
 * title generation, GET /v1/models) is answered without consuming script steps.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultScript } from './default-script.js';
import { loadScript } from './script.js';
import type { ModelScript, ScriptConversation, ScriptFailure, ScriptStep } from './script.js';

/** One HTTP request the server received. Never holds API key or authorization values. */
export interface RecordedRequest {
  method: string;
  /** URL path without the query string, e.g. `/v1/messages`. */
  path: string;
  /** Parsed JSON body, or undefined when empty / not JSON. */
  body: unknown;
  /** Epoch milliseconds. */
  receivedAt: number;
  /** Per-session conversation identity (main requests only); keys `failFirst` state. */
  conversationKey?: string;
  /** Index into `conversations` of the matched conversation (main requests only). */
  conversationIndex?: number;
  /** Step index = assistant messages already in the request (main requests only). */
  stepIndex?: number;
  /** True for everything that is not a main-conversation `POST /v1/messages`. */
  side: boolean;
  /** Whether an `x-api-key` or `authorization` header was present. */
  hasApiKey: boolean;
  /** HTTP status the server answered with (set once the answer is decided). */
  status?: number;
}

export interface ModelServerOptions {
  script: ModelScript;
  /** 0 or omitted = pick a free port. */
  port?: number;
  /** Defaults to 127.0.0.1 (loopback only). */
  host?: string;
}

export interface ModelServer {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Main-conversation `POST /v1/messages` requests (the ones that consume steps). */
  mainRequests(): RecordedRequest[];
  /** Replaces the script and forgets `failFirst` progress. */
  setScript(s: ModelScript): void;
  /** Stops listening and drops open connections (pending delays are abandoned). */
  close(): Promise<void>;
}

/** Text answered once a conversation runs past its last step. */
export const SCRIPT_FINISHED_TEXT = '(script finished)';
/** Text answered when no conversation's `match` accepts the first user message. */
export const NO_MATCH_TEXT = '(no script conversation matches this prompt)';
/** Text answered to side requests (titles, summaries, quota probes). */
export const SIDE_TEXT = 'Scripted session';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

function messagesOf(body: Json): Json[] {
  const messages = body['messages'];
  return Array.isArray(messages) ? messages.filter(isObject) : [];
}

/** Text of a message's content (string or blocks), `<system-reminder>`s removed. */
function contentText(content: unknown): string {
  const parts: string[] = [];
  if (typeof content === 'string') parts.push(content);
  else if (Array.isArray(content)) {
    for (const block of content) {
      if (isObject(block) && block['type'] === 'text' && typeof block['text'] === 'string') parts.push(block['text']);
    }
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
export function sessionIdOf(body: unknown, headers: IncomingMessage['headers']): string | undefined {
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
function conversationKeyOf(sessionId: string | undefined, prompt: string): string {
  const hash = createHash('sha256').update(prompt).digest('hex').slice(0, 16);
  return sessionId ? `${sessionId}:${hash}` : `prompt:${hash}`;
}

function matchConversation(script: ModelScript, prompt: string): number {
  return script.conversations.findIndex((c: ScriptConversation) => c.match === undefined || new RegExp(c.match).test(prompt));
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function errorTypeFor(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

function randomId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

/** Rough token estimate (4 chars per token) so the CLI reports a nonzero cost. */
function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

type ContentBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

interface Answer {
  content: ContentBlock[];
  stopReason: 'end_turn' | 'tool_use';
  inputTokens: number;
  outputTokens: number;
}

function textAnswer(text: string, inputTokens: number): Answer {
  return { content: [{ type: 'text', text }], stopReason: 'end_turn', inputTokens, outputTokens: estimateTokens(text.length) };
}

function stepAnswer(step: ScriptStep, inputTokens: number): Answer {
  const content: ContentBlock[] = [];
  if (step.text !== undefined) content.push({ type: 'text', text: step.text });
  for (const tu of step.toolUse ?? []) {
    content.push({ type: 'tool_use', id: randomId('toolu_'), name: tu.name, input: tu.input });
  }
  if (content.length === 0) content.push({ type: 'text', text: '' });
  const outChars = content.reduce((n, b) => n + (b.type === 'text' ? b.text.length : JSON.stringify(b.input).length + b.name.length), 0);
  return {
    content,
    stopReason: content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
    inputTokens: step.usage?.inputTokens ?? inputTokens,
    outputTokens: step.usage?.outputTokens ?? estimateTokens(outChars),
  };
}

/** Splits a string into chunks so clients see several deltas, as with the real API. */
function chunks(s: string, size = 24): string[] {
  if (s === '') return [''];
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': randomId('req_'), ...headers });
  res.end(JSON.stringify(payload));
}

function sendError(res: ServerResponse, failure: ScriptFailure): void {
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers['retry-after'] = String(failure.retryAfterSeconds);
  if (failure.shouldRetry !== undefined) headers['x-should-retry'] = String(failure.shouldRetry);
  const type = failure.type ?? errorTypeFor(failure.status);
  sendJson(res, failure.status, { type: 'error', error: { type, message: failure.message ?? `scripted ${type} (HTTP ${failure.status})` } }, headers);
}

function messageJson(answer: Answer, model: string): Json {
  return {
    id: randomId('msg_'),
    type: 'message',
    role: 'assistant',
    model,
    content: answer.content,
    stop_reason: answer.stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: answer.inputTokens,
      output_tokens: answer.outputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  };
}

/** Writes the answer as the Messages API SSE event sequence. */
function sendStream(res: ServerResponse, answer: Answer, model: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': randomId('req_'),
  });
  const event = (name: string, data: Json): void => {
    res.write(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`);
  };
  const message = messageJson(answer, model);
  event('message_start', {
    message: { ...message, content: [], stop_reason: null, usage: { ...(message['usage'] as Json), output_tokens: 1 } },
  });
  event('ping', {});
  answer.content.forEach((block, index) => {
    if (block.type === 'text') {
      event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const text of chunks(block.text)) event('content_block_delta', { index, delta: { type: 'text_delta', text } });
    } else {
      event('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const partial_json of chunks(JSON.stringify(block.input))) {
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } });
      }
    }
    event('content_block_stop', { index });
  });
  event('message_delta', {
    delta: { stop_reason: answer.stopReason, stop_sequence: null },
    usage: { input_tokens: answer.inputTokens, output_tokens: answer.outputTokens },
  });
  event('message_stop', {});
  res.end();
}

function sendAnswer(res: ServerResponse, body: Json, answer: Answer): void {
  const model = typeof body['model'] === 'string' ? body['model'] : 'claude-scripted';
  if (body['stream'] === true) sendStream(res, answer, model);
  else sendJson(res, 200, messageJson(answer, model));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/** Starts the server; resolves once it listens. */
export async function startModelServer(opts: ModelServerOptions): Promise<ModelServer> {
  let script = opts.script;
  /** failFirst progress: `${conversationKey}#${conversationIndex}#${stepIndex}` -> failures served. */
  const failures = new Map<string, number>();
  /** delayTimes progress: `${conversationIndex}#${stepIndex}` -> delays served (across sessions). */
  const delays = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const closing = new AbortController();

  async function handleMessages(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, raw: string): Promise<void> {
    const body = rec.body;
    if (!isObject(body)) {
      rec.status = 400;
      sendError(res, { status: 400, message: 'request body must be a JSON object' });
      return;
    }
    const inputTokens = estimateTokens(raw.length);
    if (rec.side) {
      rec.status = 200;
      sendAnswer(res, body, textAnswer(SIDE_TEXT, inputTokens));
      return;
    }
    const prompt = firstUserText(body);
    const stepIndex = stepIndexOf(body);
    const conversationIndex = matchConversation(script, prompt);
    rec.stepIndex = stepIndex;
    rec.conversationKey = conversationKeyOf(sessionIdOf(body, req.headers), prompt);
    const conversation = script.conversations[conversationIndex];
    if (conversation === undefined) {
      rec.status = 200;
      sendAnswer(res, body, textAnswer(NO_MATCH_TEXT, inputTokens));
      return;
    }
    rec.conversationIndex = conversationIndex;
    const step = conversation.steps[stepIndex];
    if (step === undefined) {
      rec.status = 200;
      sendAnswer(res, body, textAnswer(SCRIPT_FINISHED_TEXT, inputTokens));
      return;
    }
    // Decide before the delay so concurrent retries count in arrival order.
    const failKey = `${step.failScope === 'conversation' ? '*' : rec.conversationKey}#${conversationIndex}#${stepIndex}`;
    const failedSoFar = failures.get(failKey) ?? 0;
    const failure = step.error ?? step.failFirst?.[failedSoFar];
    if (step.error === undefined && failure !== undefined) failures.set(failKey, failedSoFar + 1);
    rec.status = failure?.status ?? 200;
    const delayKey = `${conversationIndex}#${stepIndex}`;
    const delayedSoFar = delays.get(delayKey) ?? 0;
    const delay = step.delayTimes === undefined || delayedSoFar < step.delayTimes ? step.delayMs : undefined;
    if (delay) delays.set(delayKey, delayedSoFar + 1);
    if (delay) {
      try {
        await sleep(delay, undefined, { signal: closing.signal });
      } catch {
        return; // server closing
      }
    }
    if (step.error !== undefined) sendError(res, { shouldRetry: false, ...step.error });
    else if (failure !== undefined) sendError(res, failure);
    else sendAnswer(res, body, stepAnswer(step, inputTokens));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    let body: unknown;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
    }
    const isMessages = method === 'POST' && (path === '/v1/messages' || path === '/messages');
    const rec: RecordedRequest = {
      method,
      path,
      body,
      receivedAt: Date.now(),
      side: !isMessages || isSideRequest(body),
      hasApiKey: Boolean(req.headers['x-api-key'] || req.headers['authorization']),
    };
    requests.push(rec);

    if (isMessages) return handleMessages(req, res, rec, raw);
    if (method === 'POST' && path.endsWith('/messages/count_tokens')) {
      rec.status = 200;
      return sendJson(res, 200, { input_tokens: estimateTokens(raw.length) });
    }
    if (method === 'GET' && path === '/v1/models') {
      rec.status = 200;
      return sendJson(res, 200, { data: [{ type: 'model', id: 'claude-scripted', display_name: 'Scripted model', created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-scripted', last_id: 'claude-scripted' });
    }
    if ((method === 'HEAD' || method === 'GET') && path === '/') {
      rec.status = 200;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(method === 'HEAD' ? undefined : 'ccflow scripted model server\n');
      return;
    }
    rec.status = 404;
    sendError(res, { status: 404, message: `no route for ${method} ${path}` });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, { status: 500, message: `model server bug: ${String(err)}` });
      else res.destroy();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    requests,
    mainRequests: () => requests.filter((r) => !r.side),
    setScript(s: ModelScript): void {
      script = s;
      failures.clear();
      delays.clear();
    },
    close(): Promise<void> {
      closing.abort();
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/**
 * `ccflow model serve`: serves a script file (or the default script) until
 * SIGINT/SIGTERM, printing the environment a `claude` run needs.
 */
export async function serveModelCommand(args: { scriptPath?: string; port?: number; host?: string }): Promise<void> {
  const script = args.scriptPath ? await loadScript(args.scriptPath) : defaultScript;
  const server = await startModelServer({ script, port: args.port, host: args.host });
  console.log(`ccflow scripted model server listening on ${server.url}`);
  console.log(`script: ${args.scriptPath ?? '(default script)'}`);
  console.log('use with:');
  console.log(`  ANTHROPIC_BASE_URL=${server.url}`);
  console.log('  ANTHROPIC_API_KEY=test-key');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  console.log(`model server stopped after ${server.requests.length} request(s)`);
}
