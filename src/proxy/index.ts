/** The worker's proxies: model (credential injection, metering, budget) and egress. */
export { AddressPolicy, normalizeAddress } from './address-policy.js';
export { applyCredential, credentialFromEnv, OAUTH_BETA, presentedToken, type UpstreamCredential } from './credentials.js';
export { EgressRules, parseAllowEntry } from './egress-policy.js';
export { EgressProxy, type EgressEvent, type EgressProxyOptions, type EgressSandbox, type Lookup } from './egress-proxy.js';
export { MAX_SOCKET_PATH_BYTES } from './listeners.js';
export { ModelProxy, type ModelProxyEvent, type ModelProxyOptions, type RefusalReason } from './model-proxy.js';
export { costOf, MODEL_PRICES, PRICE_TIERS, priceOf, type Usage } from './prices.js';
export { loadOrCreateSecret, parseSecret } from './secret.js';
export { FileStateStore, MemoryStateStore, RunUsage, type ProxyStateStore, type UpstreamError } from './state.js';
export { DEFAULT_TOKEN_MAX_AGE_MS, isProxyToken, TokenClaims, TokenSigner, type MintInput } from './tokens.js';
