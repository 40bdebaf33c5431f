/**
 * The prompt request of the agent protocol (§5): plain text, or a JSON envelope
 * `{"prompt", "attachments"?: [{filename, content(base64)}]}`. Error texts are seed 002's, so
 * callers that show them read the same.
 */
import { z } from 'zod';
import { AgentError } from './reply.js';

export interface Attachment {
  filename: string;
  content: Buffer;
}

export interface PromptEnvelope {
  prompt: string;
  attachments: Attachment[];
}

const PROMPT_MESSAGE = 'envelope.prompt must be a non-empty string';
const Envelope = z.looseObject({
  prompt: z.string({ error: PROMPT_MESSAGE }).min(1, PROMPT_MESSAGE),
  attachments: z.array(z.unknown(), { error: 'envelope.attachments must be an array' }).optional(),
});
const AttachmentShape = z.looseObject({
  filename: z.string().min(1),
  content: z.string().min(1),
});

/** RFC 4648 §4 alphabet with optional padding; seed 002 does not insist on a length of 4n. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const WHITESPACE = new Set([0x09, 0x0a, 0x0d, 0x20]);

function bad(message: string): AgentError {
  return new AgentError(400, message);
}

/** Parses a prompt request's payload, or throws a 400 `AgentError` saying what is wrong. */
export function parsePromptPayload(data: Uint8Array): PromptEnvelope {
  if (data.length === 0) throw bad('empty payload');
  const first = data.findIndex((b) => !WHITESPACE.has(b));
  if (first === -1) throw bad('whitespace-only payload');
  const text = Buffer.from(data).toString('utf8');
  // Plain-text shorthand (`nats req subj 'list files'`): the whole payload, untrimmed.
  if (data[first] !== 0x7b /* { */) return { prompt: text, attachments: [] };

  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw bad(`invalid JSON envelope: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('envelope must be a JSON object');
  const parsed = Envelope.safeParse(value);
  if (!parsed.success) throw bad(parsed.error.issues[0]?.message ?? PROMPT_MESSAGE);
  return { prompt: parsed.data.prompt, attachments: (parsed.data.attachments ?? []).map(parseAttachment) };
}

function parseAttachment(raw: unknown, i: number): Attachment {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`attachments[${i}] must be an object`);
  const parsed = AttachmentShape.safeParse(raw);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path[0];
    throw bad(
      field === 'filename'
        ? `attachments[${i}].filename must be a non-empty string`
        : `attachments[${i}].content must be a non-empty base64 string`,
    );
  }
  if (!BASE64.test(parsed.data.content)) {
    throw bad('failed to stage attachments: attachment content is not valid RFC 4648 §4 base64');
  }
  return { filename: parsed.data.filename, content: Buffer.from(parsed.data.content, 'base64') };
}
