/**
 * Just enough of the Connect protocol (JSON codec) to serve envd's RPCs to the e2b SDK: unary
 * calls (`application/json`) and server-streaming calls (`application/connect+json`, each
 * message in a 5-byte envelope: 1 flag byte + 4-byte big-endian length, the last one flagged
 * 0x02 "end of stream" and carrying `{}` or `{"error": ...}`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Connect error codes used here, with the HTTP status a unary error is answered with. */
export const CONNECT_CODES = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  deadline_exceeded: 504,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
} as const;
export type ConnectCode = keyof typeof CONNECT_CODES;

/** An RPC failure with a Connect code; handlers throw it, the transport encodes it. */
export class RpcError extends Error {
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

const END_STREAM_FLAG = 0x02;

export function encodeEnvelope(flags: number, json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a buffer into envelopes; throws on a truncated one. */
export function decodeEnvelopes(buf: Buffer): Array<{ flags: number; data: Buffer }> {
  const out: Array<{ flags: number; data: Buffer }> = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < 5) throw new RpcError('invalid_argument', 'truncated envelope header');
    const flags = buf.readUInt8(at);
    const len = buf.readUInt32BE(at + 1);
    if (buf.length - at - 5 < len) throw new RpcError('invalid_argument', 'truncated envelope');
    out.push({ flags, data: buf.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

export async function readBody(req: IncomingMessage, limitBytes = 256 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limitBytes) throw new RpcError('invalid_argument', 'request body too large');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

function parseJson(buf: Buffer): Record<string, unknown> {
  if (buf.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch {
    throw new RpcError('invalid_argument', 'request is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RpcError('invalid_argument', 'request must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The request message of a unary call. */
export async function readUnaryRequest(req: IncomingMessage): Promise<Record<string, unknown>> {
  return parseJson(await readBody(req));
}

/** The single request message of a server-streaming call. */
export async function readStreamRequest(req: IncomingMessage): Promise<Record<string, unknown>> {
  const envelopes = decodeEnvelopes(await readBody(req));
  const first = envelopes[0];
  if (!first) throw new RpcError('invalid_argument', 'missing request message');
  return parseJson(first.data);
}

export function sendUnary(res: ServerResponse, message: unknown): void {
  const body = JSON.stringify(message);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendUnaryError(res: ServerResponse, err: RpcError): void {
  const body = JSON.stringify({ code: err.code, message: err.message });
  res.writeHead(CONNECT_CODES[err.code], { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * One open server stream. `send` is a no-op once the stream is closed (by us or by the
 * client going away); `closed` says which.
 */
export class ServerStream {
  private done = false;
  private readonly onCloseFns: Array<() => void> = [];

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.flushHeaders();
    res.on('close', () => {
      if (!this.done) {
        this.done = true;
        for (const fn of this.onCloseFns) fn();
      }
    });
  }

  get closed(): boolean {
    return this.done;
  }

  /** Called once when the stream ends for any reason (end, error, client gone). */
  onClose(fn: () => void): void {
    if (this.done) fn();
    else this.onCloseFns.push(fn);
  }

  send(message: unknown): void {
    if (!this.done) this.res.write(encodeEnvelope(0, message));
  }

  end(error?: RpcError): void {
    if (this.done) return;
    this.res.end(encodeEnvelope(END_STREAM_FLAG, error ? { error: { code: error.code, message: error.message } } : {}));
    this.done = true;
    for (const fn of this.onCloseFns) fn();
  }

  /** Drops the connection without an end-of-stream message (a network failure). */
  destroy(): void {
    this.res.destroy();
  }
}
