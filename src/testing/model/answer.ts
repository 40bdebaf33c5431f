/**
 * How the scripted model answers: a script step (or a fixed text) as an Anthropic Messages
 * API message, streamed as SSE or sent as JSON, and errors in the API's error shape.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ScriptFailure, ScriptStep } from './script.js';

type Json = Record<string, unknown>;

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

export function randomId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

/** Rough token estimate (4 chars per token) so the CLI reports a nonzero cost. */
export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

type ContentBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

export interface Answer {
  content: ContentBlock[];
  stopReason: 'end_turn' | 'tool_use';
  inputTokens: number;
  outputTokens: number;
}

export function textAnswer(text: string, inputTokens: number): Answer {
  return { content: [{ type: 'text', text }], stopReason: 'end_turn', inputTokens, outputTokens: estimateTokens(text.length) };
}

export function stepAnswer(step: ScriptStep, inputTokens: number): Answer {
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

export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': randomId('req_'), ...headers });
  res.end(JSON.stringify(payload));
}

export function sendError(res: ServerResponse, failure: ScriptFailure): void {
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers['retry-after'] = String(failure.retryAfterSeconds);
  if (failure.shouldRetry !== undefined) headers['x-should-retry'] = String(failure.shouldRetry);
  const type = failure.type ?? errorTypeFor(failure.status);
  sendJson(
    res,
    failure.status,
    { type: 'error', error: { type, message: failure.message ?? `scripted ${type} (HTTP ${failure.status})` } },
    headers,
  );
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

export function sendAnswer(res: ServerResponse, body: Json, answer: Answer): void {
  const model = typeof body['model'] === 'string' ? body['model'] : 'claude-scripted';
  if (body['stream'] === true) sendStream(res, answer, model);
  else sendJson(res, 200, messageJson(answer, model));
}
