/**
 * Network policy vocabulary shared by the schemas, the proxies and both providers. Pure data:
 * workflow code may import it.
 */

/**
 * What a task's agent can reach:
 * - `none`: nothing at all, not even the model;
 * - `model`: only the model proxy (the default);
 * - `{ allow }`: the model proxy and the listed hosts (`example.com`, `*.example.com`, `host:port`);
 * - `open`: the model proxy and any public host.
 * Whatever the policy, loopback, private, link-local and metadata addresses are never reachable.
 */
export type EgressPolicy = 'none' | 'model' | 'open' | { allow: readonly string[] };

export type EgressPolicyKind = 'none' | 'model' | 'allow' | 'open';

/** How much each kind lets through, for comparing a task's policy with a worker's cap. */
export const POLICY_RANK: Readonly<Record<EgressPolicyKind, number>> = { none: 0, model: 1, allow: 2, open: 3 };

export function policyKind(p: EgressPolicy): EgressPolicyKind {
  return typeof p === 'string' ? p : 'allow';
}

/** Whether `policy` asks for no more than `cap` allows (an allow-list fits under `allow` or `open`). */
export function policyWithin(policy: EgressPolicy, cap: EgressPolicyKind): boolean {
  return POLICY_RANK[policyKind(policy)] <= POLICY_RANK[cap];
}

/**
 * Address ranges no sandbox may reach (network, prefix length, why), from IANA's special-purpose
 * registries plus the cloud metadata endpoints that sit in them.
 */
export const FORBIDDEN_V4: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared address space (CGNAT; Alibaba metadata 100.100.100.200)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata 169.254.169.254)'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments (Oracle metadata 192.0.0.192)'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved, broadcast'],
];

export const FORBIDDEN_V6: ReadonlyArray<readonly [string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['::ffff:0:0', 96, 'IPv4-mapped (checked as IPv4 first)'],
  ['64:ff9b::', 96, 'NAT64 (embeds an IPv4 address)'],
  ['64:ff9b:1::', 48, 'local NAT64'],
  ['100::', 64, 'discard'],
  ['2001::', 32, 'Teredo (embeds an IPv4 address)'],
  ['2001:db8::', 32, 'documentation'],
  ['2002::', 16, '6to4 (embeds an IPv4 address)'],
  ['fc00::', 7, 'unique local (AWS metadata fd00:ec2::254)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

/** Whether the policy lets tools out through the egress proxy (local) or the provider's firewall (E2B). */
export function usesEgress(p: EgressPolicy): boolean {
  const k = policyKind(p);
  return k === 'allow' || k === 'open';
}

/** One allow-list entry: `host`, `*.domain` (any subdomain, not the domain itself), with an optional `:port`. */
export interface AllowEntry {
  /** Lower case, no trailing dot; for a wildcard, the part after `*.`. */
  host: string;
  wildcard: boolean;
  /** The port the entry names; undefined means 80 and 443. */
  port?: number;
}

/** Ports a host entry without `:port` allows. */
export const DEFAULT_ALLOW_PORTS: readonly number[] = [80, 443];

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Parses one entry; throws an Error whose message says what is wrong with it. */
export function parseAllowEntry(raw: string): AllowEntry {
  const s = raw.trim().toLowerCase();
  const hint = '(use "example.com", "*.example.com" or "example.com:8443")';
  if (s.includes('[') || (s.match(/:/g) ?? []).length > 1 || IPV4.test(s.replace(/:\d+$/, ''))) {
    throw new Error(`"${raw}": give host names, not IP addresses`);
  }
  const m = /^(\*\.)?([^:/\s*]+?)\.?(?::(\d{1,5}))?$/.exec(s);
  if (m === null) throw new Error(`"${raw}" is not a host name ${hint}`);
  const host = m[2] ?? '';
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65_535)) throw new Error(`"${raw}": port must be 1-65535`);
  const labels = host.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) throw new Error(`"${raw}" is not a host name ${hint}`);
  return { host, wildcard: m[1] !== undefined, ...(port === undefined ? {} : { port }) };
}
