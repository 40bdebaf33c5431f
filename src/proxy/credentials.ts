/**
 * The worker's real model credential, and how it goes on an upstream request. Only the proxy
 * holds it; sandboxes hold tokens (tokens.ts).
 */
import type { OutgoingHttpHeaders } from 'node:http';

export type UpstreamCredential =
  /** `ANTHROPIC_API_KEY`: sent as `x-api-key`. */
  | { kind: 'apiKey'; value: string }
  /** `ANTHROPIC_AUTH_TOKEN` (gateways that take a bearer token): `Authorization: Bearer`. */
  | { kind: 'authToken'; value: string }
  /**
   * `CLAUDE_CODE_OAUTH_TOKEN` (a Claude subscription): `Authorization: Bearer` plus the OAuth
   * beta flag, which the CLI would add itself if it held the token, and does not when it
   * holds a ccflow token in ANTHROPIC_API_KEY.
   */
  | { kind: 'oauthToken'; value: string };

export const OAUTH_BETA = 'oauth-2025-04-20';

/** Picks the credential from a worker environment; the API key wins when several are set. */
export function credentialFromEnv(env: Record<string, string | undefined>): UpstreamCredential | undefined {
  if (env['ANTHROPIC_API_KEY']) return { kind: 'apiKey', value: env['ANTHROPIC_API_KEY'] };
  if (env['ANTHROPIC_AUTH_TOKEN']) return { kind: 'authToken', value: env['ANTHROPIC_AUTH_TOKEN'] };
  if (env['CLAUDE_CODE_OAUTH_TOKEN']) return { kind: 'oauthToken', value: env['CLAUDE_CODE_OAUTH_TOKEN'] };
  return undefined;
}

/** Sets the credential on already-forwarded headers (which carry no client credential). */
export function applyCredential(headers: OutgoingHttpHeaders, c: UpstreamCredential): void {
  if (c.kind === 'apiKey') {
    headers['x-api-key'] = c.value;
    return;
  }
  headers['authorization'] = `Bearer ${c.value}`;
  if (c.kind === 'oauthToken') {
    const betas = String(headers['anthropic-beta'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!betas.includes(OAUTH_BETA)) betas.push(OAUTH_BETA);
    headers['anthropic-beta'] = betas.join(',');
  }
}

/** The token a client presented: `x-api-key`, or a bearer `Authorization`. */
export function presentedToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key;
  const auth = headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)$/i.exec(auth.trim());
    if (m?.[1]) return m[1];
  }
  return undefined;
}
