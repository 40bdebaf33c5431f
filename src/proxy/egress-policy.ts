/**
 * A task's egress policy and the question the egress proxy asks of it: may this task open a
 * connection to host:port? Names only; the address a name resolves to is checked separately
 * (address-policy.ts), so an allowed name that points inside the worker's network is still
 * refused.
 */
import { isIP } from 'node:net';

import { policyKind, type EgressPolicy, type EgressPolicyKind } from '../domain/network.js';

export { policyKind, type EgressPolicy };

/** One allow-list entry: `host`, `*.domain` (any subdomain, not the domain itself), with an optional `:port`. */
export interface AllowEntry {
  /** Lower case, no trailing dot; for a wildcard, the part after `*.`. */
  host: string;
  wildcard: boolean;
  /** Ports allowed; 80 and 443 when the entry names none. */
  ports: readonly number[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const DEFAULT_PORTS = [80, 443] as const;

/** Parses one entry; throws an Error whose message says what is wrong with it. */
export function parseAllowEntry(raw: string): AllowEntry {
  const s = raw.trim().toLowerCase();
  const m = /^(\*\.)?([^:/\s]+?)\.?(?::(\d{1,5}))?$/.exec(s);
  if (m === null) throw new Error(`"${raw}" is not a host name (use "example.com", "*.example.com" or "example.com:8443")`);
  const wildcard = m[1] !== undefined;
  const host = m[2] ?? '';
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65_535)) throw new Error(`"${raw}": port must be 1-65535`);
  if (isIP(host) !== 0) throw new Error(`"${raw}": give host names, not IP addresses`);
  const labels = host.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) {
    throw new Error(`"${raw}" is not a host name (use "example.com", "*.example.com" or "example.com:8443")`);
  }
  return { host, wildcard, ports: port === undefined ? DEFAULT_PORTS : [port] };
}

/** Lower case, trailing dot and brackets removed. */
export function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

export class EgressRules {
  private readonly entries: AllowEntry[];
  readonly kind: EgressPolicyKind;

  constructor(policy: EgressPolicy) {
    this.kind = policyKind(policy);
    this.entries = typeof policy === 'string' ? [] : policy.allow.map(parseAllowEntry);
  }

  /** Why the policy refuses host:port, or undefined when it allows it. */
  refusal(host: string, port: number): string | undefined {
    if (this.kind === 'open') return undefined;
    if (this.kind !== 'allow') return `this task's network policy is "${this.kind}"`;
    const h = normalizeHost(host);
    if (isIP(h) !== 0) return 'the allow-list names hosts; IP addresses are refused';
    const hit = this.entries.find((e) => (e.wildcard ? h.endsWith(`.${e.host}`) : h === e.host) && e.ports.includes(port));
    if (hit !== undefined) return undefined;
    const hostListed = this.entries.some((e) => (e.wildcard ? h.endsWith(`.${e.host}`) : h === e.host));
    return hostListed ? `port ${port} of ${h} is not on this task's allow-list` : `${h} is not on this task's allow-list`;
  }
}
