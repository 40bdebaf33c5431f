/** Longest reason (MAX_REASON_CHARS in src/schemas/approvals.ts; a unit test keeps them equal). */
const MAX_REASON_CHARS = 2_000;

/** An answer with its defaults applied. */
export interface Answer {
  requestId: string;
  decision: 'allow' | 'deny';
  reason?: string;
  remember: 'once' | 'session';
}

/**
 * Checks an `approve` input before it is accepted: the Update's validator, deterministic and
 * zod-free. It accepts exactly what the ApproveInput schema accepts (a contract test holds the
 * two to each other), with messages that name the field.
 */
export function checkApproveInput(input: unknown): Answer {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error(
      'an answer is an object: {"requestId": "req-1", "decision": "allow" | "deny", "reason"?: "...", "remember"?: "once" | "session"}',
    );
  }
  const { requestId, decision, reason, remember, ...rest } = input as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new Error(`${unknown.join(', ')}: unknown field (an answer has requestId, decision, reason and remember)`);
  if (typeof requestId !== 'string' || requestId === '')
    throw new Error('requestId: must be a non-empty string (the status query shows the pending request)');
  if (decision !== 'allow' && decision !== 'deny') throw new Error('decision: must be "allow" or "deny"');
  if (reason !== undefined && typeof reason !== 'string') throw new Error('reason: must be a string');
  if (typeof reason === 'string' && reason.length > MAX_REASON_CHARS) throw new Error(`reason: longer than ${MAX_REASON_CHARS} characters`);
  if (remember !== undefined && remember !== 'once' && remember !== 'session') throw new Error('remember: must be "once" or "session"');
  return { requestId, decision, remember: remember ?? 'once', ...(reason !== undefined ? { reason } : {}) };
}
