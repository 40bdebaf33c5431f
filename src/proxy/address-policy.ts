/**
 * Addresses the egress proxy never connects to, whatever a task's policy says: loopback (the
 * worker's Temporal, metrics and proxies), private and shared ranges (the worker's network),
 * link-local (cloud metadata at 169.254.169.254), and the special-purpose ranges of IANA's
 * registries. Checked on the address actually dialled, after DNS, so a name that resolves to
 * 127.0.0.1 (or changes its answer between two lookups) gains nothing.
 */
import { BlockList, isIP } from 'node:net';

import { FORBIDDEN_V4, FORBIDDEN_V6 } from '../domain/network.js';

const V4 = FORBIDDEN_V4;
const V6 = FORBIDDEN_V6;

export interface AddressPolicyOpts {
  /**
   * Exact addresses to let through although a range above covers them. For tests that stand
   * in a local server for a public host; a deployment has no reason to set it.
   */
  exceptions?: readonly string[];
}

export class AddressPolicy {
  private readonly v4 = new BlockList();
  private readonly v6 = new BlockList();
  private readonly exceptions: Set<string>;

  constructor(opts: AddressPolicyOpts = {}) {
    for (const [net, prefix] of V4) this.v4.addSubnet(net, prefix, 'ipv4');
    for (const [net, prefix] of V6) this.v6.addSubnet(net, prefix, 'ipv6');
    this.exceptions = new Set((opts.exceptions ?? []).map(normalizeAddress));
  }

  /** Why an address is forbidden, or undefined when it may be dialled. */
  check(address: string): string | undefined {
    const a = normalizeAddress(address);
    if (this.exceptions.has(a)) return undefined;
    const family = isIP(a);
    if (family === 4) return this.v4.check(a, 'ipv4') ? reasonOf(V4, a, 'ipv4') : undefined;
    if (family === 6) return this.v6.check(a, 'ipv6') ? reasonOf(V6, a, 'ipv6') : undefined;
    return 'not an IP address';
  }
}

/** Lower-cased, zone id dropped, IPv4-mapped IPv6 (`::ffff:10.0.0.1`, `::ffff:a00:1`) as IPv4. */
export function normalizeAddress(address: string): string {
  let a = address
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (isIP(a) !== 6) return a;
  const dotted = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted?.[1] && isIP(dotted[1]) === 4) return dotted[1];
  const hex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (hex?.[1] && hex[2]) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return a;
}

function reasonOf(table: ReadonlyArray<readonly [string, number, string]>, address: string, type: 'ipv4' | 'ipv6'): string {
  for (const [net, prefix, why] of table) {
    const one = new BlockList();
    one.addSubnet(net, prefix, type);
    if (one.check(address, type)) return `${why} (${net}/${prefix})`;
  }
  return 'forbidden range';
}
