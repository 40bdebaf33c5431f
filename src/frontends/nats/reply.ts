/**
 * Replies on the wire: error frames (§9), single replies, and the chunk stream of a prompt with
 * its one terminator.
 */
import { headers, type Msg } from '@nats-io/transport-node';
import { ACK, encodeChunk, type Chunk } from './chunks.js';

export const ERROR_CODE_HEADER = 'Nats-Service-Error-Code';
export const ERROR_HEADER = 'Nats-Service-Error';

/**
 * A failure a caller should see as an error frame. Codes are seed 002's: 400 bad request, 404
 * unknown session, 409 duplicate session, 500 the turn failed, 503 session stopped, 410 session
 * expired, 408 evicted from the queue.
 */
export class AgentError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}

const DESCRIPTION_MAX_CHARS = 200;

/** A header value must not hold CR or LF (it would end the header block); long texts are cut. */
export function sanitizeDescription(text: string): string {
  const one = text.replace(/\s*[\r\n]+\s*/g, ' | ').trim();
  const cut = one.length > DESCRIPTION_MAX_CHARS ? `${one.slice(0, DESCRIPTION_MAX_CHARS - 1)}…` : one;
  return cut.length > 0 ? cut : 'error';
}

/** An error frame: the two headers and an empty body. */
export function sendError(msg: Msg, code: number, description: string): string {
  const h = headers();
  const text = sanitizeDescription(description);
  h.set(ERROR_CODE_HEADER, String(code));
  h.set(ERROR_HEADER, text);
  msg.respond(new Uint8Array(0), { headers: h });
  return `${code} ${text}`;
}

/** What `sendError` should say for anything a handler threw. */
export function asAgentError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AgentError(500, message || 'agent error');
}

/**
 * The reply stream of one prompt: chunks in order, then exactly one terminator (an empty body
 * and no headers), with an error frame just before it when the turn failed. Once ended it
 * ignores writes, so a late event from a turn can never follow the terminator.
 */
export class ReplyStream {
  #ended = false;
  #error: string | undefined;

  constructor(private readonly msg: Msg) {}

  get ended(): boolean {
    return this.#ended;
  }

  /** The reply subject; a request without one can only be answered by dropping it. */
  get replySubject(): string | undefined {
    return this.msg.reply || undefined;
  }

  send(chunk: Chunk): void {
    if (this.#ended) return;
    this.msg.respond(encodeChunk(chunk));
  }

  ack(): void {
    this.send(ACK);
  }

  /** Ends with an error frame and the terminator. */
  fail(err: unknown): void {
    if (this.#ended) return;
    const e = asAgentError(err);
    this.#error = sendError(this.msg, e.code, e.message);
    this.end();
  }

  /** Sends the terminator; later calls do nothing. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.msg.respond(new Uint8Array(0));
  }

  /** The error this stream ended with, for endpoint statistics. */
  get error(): string | undefined {
    return this.#error;
  }
}
