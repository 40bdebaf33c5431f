import { MAX_ATTACHMENT_BYTES } from '../domain/prompts.js';
import type { FollowUpInput } from '../schemas/messages.js';

/** Longest follow-up prompt (MAX_FOLLOW_UP_PROMPT_CHARS in src/schemas/messages.ts; a unit test keeps them equal). */
const MAX_PROMPT_CHARS = 200_000;

/**
 * Checks a follow-up before it is accepted: the Update's validator, deterministic and zod-free.
 * It accepts exactly what the FollowUpInput schema accepts (a contract test holds the two to
 * each other), with messages that name the field.
 */
export function checkFollowUpInput(input: unknown): asserts input is FollowUpInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('a follow-up is an object: {"prompt": "...", "resultSchema"?: {...}}');
  }
  const { prompt, resultSchema, attachments, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new Error(`${unknown.join(', ')}: unknown field (a follow-up has prompt, resultSchema and attachments)`);
  if (attachments !== undefined) checkAttachments(attachments);
  if (typeof prompt !== 'string' || prompt.trim() === '') throw new Error('prompt: must be a non-empty string');
  if (prompt.trim().length > MAX_PROMPT_CHARS) throw new Error(`prompt: longer than ${MAX_PROMPT_CHARS} characters`);
  if (resultSchema !== undefined) {
    if (typeof resultSchema !== 'object' || resultSchema === null || Array.isArray(resultSchema)) {
      throw new Error('resultSchema: must be a JSON Schema object with "type": "object"');
    }
    const s = resultSchema as Record<string, unknown>;
    if (s.type !== 'object') throw new Error('resultSchema: must be a JSON Schema object with "type": "object"');
    if (s.properties !== undefined && (typeof s.properties !== 'object' || s.properties === null || Array.isArray(s.properties))) {
      throw new Error('resultSchema: "properties" must be an object mapping names to JSON Schemas');
    }
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function checkAttachments(attachments: unknown): void {
  if (!Array.isArray(attachments)) throw new Error('attachments: must be an array');
  let bytes = 0;
  attachments.forEach((a: unknown, i) => {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new Error(`attachments[${i}]: must be an object`);
    const { filename, contentBase64, ...rest } = a as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new Error(`attachments[${i}].${Object.keys(rest)[0]}: unknown field`);
    if (typeof filename !== 'string' || filename === '') throw new Error(`attachments[${i}].filename: must be a non-empty string`);
    if (typeof contentBase64 !== 'string' || !BASE64.test(contentBase64))
      throw new Error(`attachments[${i}].contentBase64: must be base64`);
    bytes += Math.floor((contentBase64.length * 3) / 4);
  });
  if (bytes > MAX_ATTACHMENT_BYTES) throw new Error(`attachments: more than ${MAX_ATTACHMENT_BYTES / 1024} KB in all`);
}
