/**
 * A task's egress policy and the question the egress proxy asks of it: may this task open a
 * connection to host:port? Names only; the address a name resolves to is checked separately
 * (address-policy.ts), so an allowed name that points inside the worker's network is still
 * refused.
 */
import { isIP } from 'node:net';

import {
  DEFAULT_ALLOW_PORTS,
  parseAllowEntry,
  policyKind,
  type AllowEntry,
  type EgressPolicy,
  type EgressPolicyKind,
} from '../domain/network.js';

export { parseAllowEntry, policyKind, type EgressPolicy };

/** Lower case, trailing dot and brackets removed. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
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
    const hit = this.entries.find(
      (e) =>
        (e.wildcard ? h.endsWith(`.${e.host}`) : h === e.host) &&
        (e.port === undefined ? DEFAULT_ALLOW_PORTS.includes(port) : e.port === port),
    );
    if (hit !== undefined) return undefined;
    const hostListed = this.entries.some((e) => (e.wildcard ? h.endsWith(`.${e.host}`) : h === e.host));
    return hostListed ? `port ${port} of ${h} is not on this task's allow-list` : `${h} is not on this task's allow-list`;
  }
}
