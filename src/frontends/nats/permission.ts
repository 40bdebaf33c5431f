/**
 * §7 permission queries: the question's wording and the reading of the caller's one reply,
 * normalised as seed 002 does so that its callers' habits ("y", "ok", "deny") carry over.
 */
import type { PermissionDecision, PermissionRequest } from './backend.js';

const ALLOW = new Set(['yes', 'y', 'allow', 'approve', 'ok', 'true']);
const DENY = new Set(['no', 'n', 'deny', 'reject', 'cancel', 'false']);
const INPUT_PREVIEW_CHARS = 600;
const REPLY_HINT = "Reply 'yes' to allow or 'no' to deny.";

/**
 * Reads a reply. Spec §7.2 lets a caller answer with a prompt envelope (`{"prompt":"yes"}`) as
 * well as plain text; both are read the same. Anything unrecognised denies, with the reply kept
 * as the reason the agent sees.
 */
export function normalizeReply(data: Uint8Array): PermissionDecision {
  const raw = Buffer.from(data).toString('utf8');
  const text = envelopePrompt(raw) ?? raw;
  const trimmed = text.trim();
  const word = trimmed.toLowerCase();
  if (ALLOW.has(word)) return { allow: true };
  if (DENY.has(word)) return { allow: false, reason: 'user denied' };
  return { allow: false, reason: trimmed.length > 0 ? trimmed : 'user denied (no reason given)' };
}

function envelopePrompt(raw: string): string | undefined {
  if (!raw.trimStart().startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === 'object' && value !== null && typeof (value as { prompt?: unknown }).prompt === 'string') {
      return (value as { prompt: string }).prompt;
    }
  } catch {
    // Not an envelope after all: the text itself is the reply.
  }
  return undefined;
}

/** The question shown to the caller. */
export function queryPrompt(req: Pick<PermissionRequest, 'toolName' | 'input' | 'title' | 'description'>): string {
  if (req.title) {
    return [req.title, ...(req.description ? [req.description] : []), '', REPLY_HINT].join('\n');
  }
  const lines = [`Claude wants to use tool: ${req.toolName}`];
  const hasInput = typeof req.input === 'object' && req.input !== null && Object.keys(req.input).length > 0;
  if (hasInput) {
    const pretty = JSON.stringify(req.input, null, 2);
    lines.push(pretty.length > INPUT_PREVIEW_CHARS ? `${pretty.slice(0, INPUT_PREVIEW_CHARS)}…[truncated]` : pretty);
  }
  lines.push(REPLY_HINT);
  return lines.join('\n');
}
