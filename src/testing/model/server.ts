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
 *
 * Like a real model, it only calls tools the request offered (see `offeredTools`): a step
 * whose `toolUse` names any other tool is refused with HTTP 400 and recorded in `refusals()`,
 * so a script that relies on a tool the CLI never offered fails its test instead of passing.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { estimateTokens, sendAnswer, sendError, sendJson, stepAnswer, textAnswer } from './answer.js';
import { conversationKeyOf, firstUserText, isObject, isSideRequest, offeredTools, sessionIdOf, stepIndexOf } from './request.js';
import type { ModelScript, ScriptConversation, ScriptStep } from './script.js';

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
  /** Set when the step called tools this request did not offer (answered with HTTP 400). */
  refusal?: ToolRefusal;
}

/** A script step that called tools the CLI had not offered the model. */
export interface ToolRefusal {
  /** The script conversation's name, or its index. */
  conversation: string;
  stepIndex: number;
  /** The tools the step called that were not offered. */
  tools: string[];
  /** What the request did offer. */
  offered: string[];
  message: string;
}

export interface ModelServerOptions {
  script: ModelScript;
  /** 0 or omitted = pick a free port. */
  port?: number;
  /** Defaults to 127.0.0.1 (loopback only). */
  host?: string;
  /** Called on every refused step (for logging); the refusal is recorded either way. */
  onRefusal?: (refusal: ToolRefusal) => void;
}

export interface ModelServer {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Main-conversation `POST /v1/messages` requests (the ones that consume steps). */
  mainRequests(): RecordedRequest[];
  /** Steps refused because they called a tool the request did not offer, in arrival order. */
  refusals(): ToolRefusal[];
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

function matchConversation(script: ModelScript, prompt: string): number {
  return script.conversations.findIndex((c: ScriptConversation) => c.match === undefined || new RegExp(c.match).test(prompt));
}

/** The refusal for a step that calls tools the request did not offer, if it does. */
function checkOffered(step: ScriptStep, body: unknown, conversation: string, stepIndex: number): ToolRefusal | undefined {
  const called = (step.toolUse ?? []).map((t) => t.name);
  if (called.length === 0) return undefined;
  const offered = offeredTools(body);
  const missing = [...new Set(called.filter((name) => !offered.includes(name)))];
  if (missing.length === 0) return undefined;
  const message =
    `scripted model: step ${stepIndex} of conversation ${conversation} calls ${missing.map((t) => `"${t}"`).join(', ')}, ` +
    `which this request did not offer; offered: ${offered.join(', ') || '(none)'}`;
  return { conversation, stepIndex, tools: missing, offered, message };
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
    const refusal =
      step.error === undefined ? checkOffered(step, body, conversation.name ?? `#${conversationIndex}`, stepIndex) : undefined;
    if (refusal) {
      rec.status = 400;
      rec.refusal = refusal;
      opts.onRefusal?.(refusal);
      sendError(res, { status: 400, type: 'invalid_request_error', message: refusal.message, shouldRetry: false });
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
      return sendJson(res, 200, {
        data: [{ type: 'model', id: 'claude-scripted', display_name: 'Scripted model', created_at: '2025-01-01T00:00:00Z' }],
        has_more: false,
        first_id: 'claude-scripted',
        last_id: 'claude-scripted',
      });
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
    refusals: () => requests.flatMap((r) => (r.refusal ? [r.refusal] : [])),
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
