/**
 * The model keys sandboxes hold: `ccflow-sbx.<claims>.<mac>`, an HMAC-SHA256-signed claim set
 * (whose sandbox, task and run it is, and how much that run may still spend). The real
 * credential never leaves the worker; a token is worth only what the proxy lets it do.
 *
 * Signed rather than random-and-remembered, so any worker sharing the secret (and the same
 * worker after a restart, with the secret kept on disk) verifies a token without shared state:
 * a reattached run keeps working. What needs state, revocation, lives in a RevocationList.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { z } from 'zod';

const PREFIX = 'ccflow-sbx';

export const TokenClaims = z.strictObject({
  /** Format version. */
  v: z.literal(1),
  /** The sandbox the token was minted for; revoked with it. */
  sbx: z.string().min(1).max(200),
  /** The task (workflow id) and Temporal namespace it belongs to, for metering and logs. */
  task: z.string().min(1).max(1000),
  ns: z.string().min(1).max(1000),
  /** The agent run it was minted for: the proxy meters each run on its own. */
  run: z.string().min(1).max(1000),
  /** USD this run may still spend (the task's maxBudgetUsd minus what earlier runs spent). */
  budget: z.number().nonnegative().optional(),
  /** Issued at, ms since epoch. */
  iat: z.number().int().nonnegative(),
  /** Random, so two tokens for the same claims differ. */
  n: z.string().min(8).max(64),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

export type MintInput = Omit<TokenClaims, 'v' | 'iat' | 'n'>;

export type VerifyResult = { ok: true; claims: TokenClaims } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' };

export interface TokenSignerOpts {
  /** At least 32 bytes; shared by every worker that must accept the same tokens. */
  secret: Buffer;
  /**
   * Tokens older than this are refused whatever else holds, which also bounds how long a
   * revocation must be remembered.
   * @default 30 * 24 * 3600 * 1000 // 30 days
   */
  maxAgeMs?: number;
  now?: () => number;
}

export const DEFAULT_TOKEN_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

export class TokenSigner {
  readonly maxAgeMs: number;
  private readonly secret: Buffer;
  private readonly now: () => number;

  constructor(opts: TokenSignerOpts) {
    if (opts.secret.length < 32) throw new Error('the token secret must be at least 32 bytes');
    this.secret = opts.secret;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_TOKEN_MAX_AGE_MS;
    this.now = opts.now ?? Date.now;
  }

  mint(input: MintInput): string {
    const claims = TokenClaims.parse({ ...input, v: 1, iat: this.now(), n: randomBytes(12).toString('base64url') });
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${PREFIX}.${body}.${this.mac(body)}`;
  }

  verify(token: string): VerifyResult {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return { ok: false, reason: 'malformed' };
    const [, body = '', mac = ''] = parts;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(mac);
    if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'bad-signature' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const claims = TokenClaims.safeParse(parsed);
    if (!claims.success) return { ok: false, reason: 'malformed' };
    const age = this.now() - claims.data.iat;
    if (age > this.maxAgeMs) return { ok: false, reason: 'expired' };
    return { ok: true, claims: claims.data };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(`${PREFIX}.${body}`).digest('base64url');
  }
}

/** Whether a string looks like one of our tokens (so logs can say "a ccflow token" and no more). */
export function isProxyToken(s: string): boolean {
  return s.startsWith(`${PREFIX}.`);
}
