/**
 * A task's egress policy as E2B's network options (e2b SDK 2.51): `allowOut` entries win over
 * `denyOut`, domains work in `allowOut` only and match only HTTP on port 80 (Host) and TLS on
 * port 443 (SNI); anything else is matched by address. So:
 * - `none`: only the model endpoint, as `model`: the sandbox is given no credential for it, so the
 *   CLI's first request is refused at once (a CLI that reaches nothing retries for minutes); no
 *   internet at all (`allowInternetAccess: false`) when there is no endpoint;
 * - `model`: only the model endpoint (the proxy, or the API when the key must be passed);
 * - `{ allow }`: the model endpoint and the listed domains; a `host:port` entry with another
 *   port cannot be expressed and is refused before a sandbox is made;
 * - `open`: everything but the forbidden ranges (private, link-local, metadata...).
 */
import { ALL_TRAFFIC, type SandboxOpts } from 'e2b';

import { SandboxPolicyError as E2BPolicyError } from '../errors.js';
import { FORBIDDEN_V4, parseAllowEntry, policyKind, type EgressPolicy } from '../../domain/network.js';

export type E2BNetworkOpts = Pick<SandboxOpts, 'allowInternetAccess' | 'network'>;

/** A policy E2B cannot express; `field` names the TaskSpec entry at fault. */
export { SandboxPolicyError as E2BPolicyError } from '../errors.js';

/**
 * `modelEndpoints`: what the sandbox must reach for the model, as `allowOut` entries: the
 * endpoint's host name, plus its addresses when it listens on a port other than 80/443.
 */
export function e2bNetworkOptions(policy: EgressPolicy, modelEndpoints: readonly string[]): E2BNetworkOpts {
  const kind = policyKind(policy);
  if (kind === 'none')
    return modelEndpoints.length === 0
      ? { allowInternetAccess: false }
      : { network: { allowOut: [...new Set(modelEndpoints)], denyOut: [ALL_TRAFFIC] } };
  // The private ranges E2B's own network lives in are denied even in open mode. IPv4 only:
  // denyOut takes CIDRs, and the sandbox's IPv6 egress is E2B's to police.
  const forbidden = FORBIDDEN_V4.map(([net, prefix]) => `${net}/${prefix}`);
  if (kind === 'open') return { network: { denyOut: forbidden } };
  const allowOut = [...modelEndpoints];
  if (typeof policy !== 'string') {
    policy.allow.forEach((raw, i) => {
      let entry;
      try {
        entry = parseAllowEntry(raw);
      } catch (err) {
        throw new E2BPolicyError(`network.allow[${i}]`, (err as Error).message);
      }
      if (entry.port !== undefined && entry.port !== 80 && entry.port !== 443) {
        throw new E2BPolicyError(
          `network.allow[${i}]`,
          `E2B filters domains on ports 80 and 443 only; "${raw}" cannot be allowed in an E2B sandbox`,
        );
      }
      allowOut.push(`${entry.wildcard ? '*.' : ''}${entry.host}`);
    });
  }
  return { network: { allowOut: [...new Set(allowOut)], denyOut: [ALL_TRAFFIC] } };
}

/** `allowOut` entries for a model endpoint URL: its host, and its addresses for an odd port. */
export function modelEndpointEntries(url: string, addresses: readonly string[]): string[] {
  const u = new URL(url);
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return port === 80 || port === 443 ? [host] : [host, ...addresses];
}
