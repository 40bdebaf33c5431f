/**
 * JSON with object keys sorted at every depth, so two copies of the same value serialise to
 * the same text whatever order their keys came in. An approval is bound to the exact input
 * a human saw through a hash of this text; the in-sandbox hook computes the same
 * (sandbox-template/result-server/approval-hook.mjs, kept in step by a shared test).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null';
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

/**
 * A short, readable preview of a tool input for people and for workflow history, which must
 * stay small whatever the agent sends: long strings are cut, the whole is capped.
 */
export function previewJson(value: unknown, maxChars: number, maxStringChars = Math.max(40, Math.floor(maxChars / 2))): string {
  const cut = (v: unknown): unknown => {
    if (typeof v === 'string') return v.length > maxStringChars ? `${v.slice(0, maxStringChars)}… (${v.length} chars)` : v;
    if (Array.isArray(v)) return v.map(cut);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cut(x)]));
    }
    return v;
  };
  const text = JSON.stringify(cut(value)) ?? 'null';
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}
