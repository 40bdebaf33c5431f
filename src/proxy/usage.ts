/**
 * Reads token usage out of a Messages API response while it streams past, without holding the
 * response back: the proxy writes every chunk on at once and hands a copy here.
 *
 * A streamed response reports usage twice: `message_start` (input and cache tokens, a first
 * output count) and `message_delta` (cumulative counts at the end). An `error` event mid-stream
 * (e.g. `overloaded_error`) is kept too. A plain JSON response carries `usage` at its top level.
 */
import type { Usage } from './prices.js';

/** Lines longer than this are not parsed (usage events are small; content deltas are skipped). */
const MAX_LINE_BYTES = 1 << 20;
/** A JSON body bigger than this is passed through but not metered. */
const MAX_JSON_BYTES = 16 << 20;

export interface ResponseUsage {
  model?: string;
  usage: Usage;
  /** `error.type` of an error event or error body. */
  errorType?: string;
  /** The usage could not be read (oversize, or not a Messages response). */
  unreadable: boolean;
}

const INTERESTING = new Set(['message_start', 'message_delta', 'error']);

export class SseUsageReader {
  private carry = '';
  private skipping = false;
  private event: string | undefined;
  private data: string[] = [];
  private readonly decoder = new TextDecoder('utf-8');
  private readonly out: ResponseUsage = { usage: {}, unreadable: false };

  push(chunk: Uint8Array): void {
    const text = this.carry + this.decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      if (this.skipping) this.skipping = false;
      else this.line(text.slice(start, nl).replace(/\r$/, ''));
      start = nl + 1;
    }
    this.carry = text.slice(start);
    if (this.carry.length > MAX_LINE_BYTES) {
      // One huge line (a giant delta): not a usage event. Drop it up to its end.
      this.carry = '';
      this.skipping = true;
    }
  }

  end(): ResponseUsage {
    if (this.carry !== '' && !this.skipping) this.line(this.carry);
    this.line('');
    return this.out;
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith('event:')) this.event = line.slice(6).trim();
    else if (line.startsWith('data:') && (this.event === undefined || INTERESTING.has(this.event))) {
      this.data.push(line.slice(5).replace(/^ /, ''));
    }
  }

  private dispatch(): void {
    const data = this.data.join('\n');
    this.event = undefined;
    this.data = [];
    if (data === '') return;
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      return;
    }
    if (!isRecord(value)) return;
    if (value['type'] === 'message_start' && isRecord(value['message'])) {
      const m = value['message'];
      if (typeof m['model'] === 'string') this.out.model = m['model'];
      if (isRecord(m['usage'])) this.out.usage = { ...this.out.usage, ...pickUsage(m['usage']) };
    } else if (value['type'] === 'message_delta' && isRecord(value['usage'])) {
      // Cumulative: later counts replace earlier ones.
      this.out.usage = { ...this.out.usage, ...pickUsage(value['usage']) };
    } else if (value['type'] === 'error' && isRecord(value['error']) && typeof value['error']['type'] === 'string') {
      this.out.errorType = value['error']['type'];
    }
  }
}

/** Collects a non-streamed JSON response (bounded) and reads its usage at the end. */
export class JsonUsageReader {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private tooBig = false;

  push(chunk: Uint8Array): void {
    if (this.tooBig) return;
    this.size += chunk.length;
    if (this.size > MAX_JSON_BYTES) {
      this.tooBig = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  }

  end(): ResponseUsage {
    if (this.tooBig) return { usage: {}, unreadable: true };
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(this.chunks).toString('utf8'));
    } catch {
      return { usage: {}, unreadable: true };
    }
    if (!isRecord(value)) return { usage: {}, unreadable: true };
    const out: ResponseUsage = { usage: isRecord(value['usage']) ? pickUsage(value['usage']) : {}, unreadable: false };
    if (typeof value['model'] === 'string') out.model = value['model'];
    if (isRecord(value['error']) && typeof value['error']['type'] === 'string') out.errorType = value['error']['type'];
    return out;
  }
}

function pickUsage(u: Record<string, unknown>): Usage {
  const out: Usage = {};
  for (const k of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
    const v = u[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  }
  const cc = u['cache_creation'];
  if (isRecord(cc)) {
    const c: NonNullable<Usage['cache_creation']> = {};
    for (const k of ['ephemeral_5m_input_tokens', 'ephemeral_1h_input_tokens'] as const) {
      const v = cc[k];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) c[k] = v;
    }
    out.cache_creation = c;
  }
  if (typeof u['inference_geo'] === 'string') out.inference_geo = u['inference_geo'];
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
