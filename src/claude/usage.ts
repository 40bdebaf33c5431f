import type { TokenUsage } from '../schemas/activities.js';

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : 0);

/** Token counts from a `result` line's `usage` (Anthropic's field names), zero where absent. */
export function tokenUsage(usage: unknown): TokenUsage {
  const u = typeof usage === 'object' && usage !== null ? (usage as Record<string, unknown>) : {};
  return {
    inputTokens: count(u.input_tokens),
    outputTokens: count(u.output_tokens),
    cacheReadTokens: count(u.cache_read_input_tokens),
    cacheCreationTokens: count(u.cache_creation_input_tokens),
  };
}
