import { parseStreamLine, type StreamEvent } from './events.js';

const NEWLINE = 0x0a;

/**
 * Turns chunks of a stream-json file into events. Chunks may end mid-line (or mid UTF-8
 * character): the tail is kept until its newline arrives. `offset` is the byte position just
 * after the last complete line, so a reader that restarts (a retried activity) resumes there
 * without losing or repeating a line.
 */
export class StreamJsonParser {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #offset: number;

  constructor(startOffset = 0) {
    this.#offset = startOffset;
  }

  /** Byte offset (in the whole stream) after the last complete line handed out. */
  get offset(): number {
    return this.#offset;
  }

  /** Feeds a chunk; returns the events of every line it completed. */
  push(chunk: Buffer): StreamEvent[] {
    const events: StreamEvent[] = [];
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, start);
    while (nl !== -1) {
      const piece = chunk.subarray(start, nl);
      const lineBytes = this.#pendingBytes + piece.length + 1;
      const line = this.#pendingBytes > 0 ? Buffer.concat([...this.#pending, piece]).toString('utf8') : piece.toString('utf8');
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#offset += lineBytes;
      const trimmed = line.trim();
      if (trimmed.length > 0) events.push(parseStreamLine(trimmed));
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      // Copy: the caller may reuse its read buffer for the next chunk.
      const rest = Buffer.from(chunk.subarray(start));
      this.#pending.push(rest);
      this.#pendingBytes += rest.length;
    }
    return events;
  }

  /** Ends the stream: a final line without a newline still counts. */
  end(): StreamEvent[] {
    if (this.#pendingBytes === 0) return [];
    const line = Buffer.concat(this.#pending).toString('utf8').trim();
    this.#offset += this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    return line.length > 0 ? [parseStreamLine(line)] : [];
  }
}
