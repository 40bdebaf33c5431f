/**
 * What a model request costs, from the `usage` the API reports. The table is the pinned
 * Claude Code CLI's own model catalog (2.1.330: `pricing_tiers` and each model's `pricing`),
 * so the proxy's meter and the CLI's `total_cost_usd` agree, and a budget enforced here means
 * the same dollars as `--max-budget-usd`. Update it together with the CLI pin.
 *
 * Prices are USD per million tokens. Cache writes are billed by their TTL (5 minutes or 1 hour),
 * cache reads at their own rate. A model the table does not know is priced like the CLI prices
 * one (its fallback is the 5/25 tier) and reported as `estimated`.
 */

export interface PriceTier {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
  /** A dearer tier for prompts above `abovePromptTokens` (input + cache tokens). */
  longPrompt?: { abovePromptTokens: number } & Omit<PriceTier, 'longPrompt'>;
}

const tier = (input: number, output: number, cacheRead = input / 10): PriceTier => ({
  input,
  output,
  cacheWrite5m: input * 1.25,
  cacheWrite1h: input * 2,
  cacheRead,
});

/** The CLI's pricing tiers, by the CLI's own names. */
export const PRICE_TIERS = {
  tier_2_10: tier(2, 10),
  tier_2_10_cache_read_0_10: tier(2, 10, 0.1),
  tier_3_15: tier(3, 15),
  tier_5_25: tier(5, 25),
  tier_15_75: tier(15, 75),
  tier_10_50: tier(10, 50),
  tier_10_50_cache_read_0_25: tier(10, 50, 0.25),
  tier_4_20_cache_read_0_20: tier(4, 20, 0.2),
  tier_8_40_cache_read_0_20: tier(8, 40, 0.2),
  haiku_35: tier(0.8, 4),
  haiku_45: tier(1, 5),
  haiku_55: { ...tier(0.1, 0.5), longPrompt: { abovePromptTokens: 100_000, ...tier(0.5, 2.5) } },
} as const satisfies Record<string, PriceTier>;
export type PriceTierName = keyof typeof PRICE_TIERS;

/** Model id (as the CLI names it) → its first-party API id and tier. */
export const MODEL_PRICES: ReadonlyArray<{ id: string; apiId: string; tier: PriceTierName }> = [
  { id: 'claude-3-5-haiku', apiId: 'claude-3-5-haiku-20241022', tier: 'haiku_35' },
  { id: 'claude-haiku-4-5', apiId: 'claude-haiku-4-5-20251001', tier: 'haiku_45' },
  { id: 'claude-haiku-5-5', apiId: 'claude-haiku-5-5', tier: 'haiku_55' },
  { id: 'claude-3-5-sonnet', apiId: 'claude-3-5-sonnet-20241022', tier: 'tier_3_15' },
  { id: 'claude-3-7-sonnet', apiId: 'claude-3-7-sonnet-20250219', tier: 'tier_3_15' },
  { id: 'claude-sonnet-4-0', apiId: 'claude-sonnet-4-20250514', tier: 'tier_3_15' },
  { id: 'claude-sonnet-4-5', apiId: 'claude-sonnet-4-5-20250929', tier: 'tier_3_15' },
  { id: 'claude-sonnet-4-6', apiId: 'claude-sonnet-4-6', tier: 'tier_3_15' },
  { id: 'claude-sonnet-5', apiId: 'claude-sonnet-5', tier: 'tier_2_10' },
  { id: 'claude-sonnet-5-5', apiId: 'claude-sonnet-5-5', tier: 'tier_2_10_cache_read_0_10' },
  { id: 'claude-opus-4-0', apiId: 'claude-opus-4-20250514', tier: 'tier_15_75' },
  { id: 'claude-opus-4-1', apiId: 'claude-opus-4-1-20250805', tier: 'tier_15_75' },
  { id: 'claude-opus-4-5', apiId: 'claude-opus-4-5-20251101', tier: 'tier_5_25' },
  { id: 'claude-opus-4-6', apiId: 'claude-opus-4-6', tier: 'tier_5_25' },
  { id: 'claude-opus-4-7', apiId: 'claude-opus-4-7', tier: 'tier_5_25' },
  { id: 'claude-opus-4-8', apiId: 'claude-opus-4-8', tier: 'tier_5_25' },
  { id: 'claude-opus-5', apiId: 'claude-opus-5', tier: 'tier_5_25' },
  { id: 'claude-opus-5-5', apiId: 'claude-opus-5-5', tier: 'tier_4_20_cache_read_0_20' },
  { id: 'claude-fable-5', apiId: 'claude-fable-5', tier: 'tier_10_50' },
  { id: 'claude-fable-5-1', apiId: 'claude-fable-5-1', tier: 'tier_10_50_cache_read_0_25' },
  { id: 'claude-fable-5-2', apiId: 'claude-fable-5-2', tier: 'tier_8_40_cache_read_0_20' },
  { id: 'claude-mythos-5', apiId: 'claude-mythos-5', tier: 'tier_10_50' },
  { id: 'claude-mythos-5-1', apiId: 'claude-mythos-5-1', tier: 'tier_10_50_cache_read_0_25' },
  { id: 'claude-mythos-5-2', apiId: 'claude-mythos-5-2', tier: 'tier_8_40_cache_read_0_20' },
];

/** The CLI's price for a model it has no catalog entry for. */
export const FALLBACK_TIER: PriceTierName = 'tier_5_25';

/**
 * The tier of a model id as it appears in a request or response: the catalog id, the dated
 * API id, or either with a suffix (`-20250929`, `[1m]`). The longest matching id wins, so
 * `claude-opus-4-5` is never priced as `claude-opus-4`.
 */
export function priceOf(model: string | undefined): { tier: PriceTier; name: PriceTierName; estimated: boolean } {
  const m = (model ?? '').replace(/\[[^\]]*\]$/, '').toLowerCase();
  let best: { len: number; tier: PriceTierName } | undefined;
  for (const entry of MODEL_PRICES) {
    for (const id of [entry.apiId, entry.id]) {
      const matches = m === id || m.startsWith(`${id}-`) || m.startsWith(`${id}@`);
      if (matches && (best === undefined || id.length > best.len)) best = { len: id.length, tier: entry.tier };
    }
  }
  const name = best?.tier ?? FALLBACK_TIER;
  return { tier: PRICE_TIERS[name], name, estimated: best === undefined };
}

/** Token counts of one response, as the Messages API's `usage` names them. */
export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number };
  /** `us` costs 1.1x (data residency), as in the CLI. */
  inference_geo?: string;
}

const US_GEO_FACTOR = 1.1;

/** USD cost of one response's usage for a model, as the CLI computes it. */
export function costOf(model: string | undefined, usage: Usage): number {
  const n = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  const input = n(usage.input_tokens);
  const output = n(usage.output_tokens);
  const cacheRead = n(usage.cache_read_input_tokens);
  const cacheWrite = n(usage.cache_creation_input_tokens);
  const oneHour = Math.min(n(usage.cache_creation?.ephemeral_1h_input_tokens), cacheWrite);
  const fiveMinute = cacheWrite - oneHour;
  let t: Omit<PriceTier, 'longPrompt'> = priceOf(model).tier;
  const long = (t as PriceTier).longPrompt;
  if (long !== undefined && input + cacheRead + cacheWrite > long.abovePromptTokens) t = long;
  const usd =
    (input * t.input + output * t.output + fiveMinute * t.cacheWrite5m + oneHour * t.cacheWrite1h + cacheRead * t.cacheRead) / 1_000_000;
  return usage.inference_geo === 'us' ? usd * US_GEO_FACTOR : usd;
}
