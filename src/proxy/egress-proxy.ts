/**
 * The egress proxy: an HTTP proxy (CONNECT for HTTPS, absolute URLs for plain HTTP) that
 * local sandboxes with an allow-list or `open` policy reach as HTTPS_PROXY/HTTP_PROXY. It
 * knows the sandbox by the Unix socket the connection came in on, checks the host against the
 * sandbox's policy, resolves it once, checks every resolved address against the forbidden
 * ranges, and dials the checked address itself (never the name again), so DNS rebinding
 * cannot slip a private address through. Every refusal is reported with the task's id.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import { AddressPolicy } from './address-policy.js';
import { EgressRules, normalizeHost, type EgressPolicy } from './egress-policy.js';
import { forwardHeaders } from './http-util.js';
import { ProxyListeners, sandboxOfSocket } from './listeners.js';

export interface EgressSandbox {
  sandboxId: string;
  task: string;
  namespace: string;
  policy: EgressPolicy;
}

export type EgressRefusalReason = 'policy' | 'forbidden-address' | 'dns' | 'bad-request' | 'unknown-sandbox';

export type EgressEvent =
  | {
      type: 'refused';
      reason: EgressRefusalReason;
      detail: string;
      host: string;
      port: number;
      sandboxId?: string;
      task?: string;
      namespace?: string;
    }
  | { type: 'connected'; host: string; port: number; address: string; sandboxId: string; task: string; namespace: string };

export type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

export interface EgressProxyOptions {
  /** @default node's dns.lookup (getaddrinfo, so /etc/hosts counts), all addresses */
  lookup?: Lookup;
  /** @default new AddressPolicy() */
  addresses?: AddressPolicy;
  onEvent?: (e: EgressEvent) => void;
  /**
   * How long dialling an upstream may take.
   * @default 15_000 // ms
   */
  connectTimeoutMs?: number;
}

const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

export class EgressProxy {
  private readonly server: http.Server;
  private readonly listeners: ProxyListeners;
  private readonly sandboxes = new Map<string, { info: EgressSandbox; rules: EgressRules }>();
  private readonly lookup: Lookup;
  private readonly addresses: AddressPolicy;
  private readonly tunnels = new Map<string, Set<Duplex>>();
  private tcpSandbox: string | undefined;

  constructor(private readonly opts: EgressProxyOptions = {}) {
    this.lookup = opts.lookup ?? defaultLookup;
    this.addresses = opts.addresses ?? new AddressPolicy();
    this.server = http.createServer({ noDelay: true }, (req, res) => void this.onRequest(req, res));
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.onConnect(req, socket, head));
    this.listeners = new ProxyListeners(this.server);
  }

  /** Registers a sandbox and serves it on a Unix socket bound into its jail. */
  async addSandbox(socketPath: string, sandbox: EgressSandbox): Promise<void> {
    this.sandboxes.set(sandbox.sandboxId, { info: sandbox, rules: new EgressRules(sandbox.policy) });
    await this.listeners.addSandbox(socketPath, sandbox.sandboxId);
  }

  hasSandbox(sandboxId: string): boolean {
    return this.listeners.hasSandbox(sandboxId);
  }

  /** Forgets a sandbox: its socket closes and its open tunnels are cut. */
  async removeSandbox(sandboxId: string): Promise<void> {
    this.sandboxes.delete(sandboxId);
    for (const s of this.tunnels.get(sandboxId) ?? []) s.destroy();
    this.tunnels.delete(sandboxId);
    await this.listeners.removeSandbox(sandboxId);
  }

  /** TCP, for tests and benchmarks: connections count as `asSandbox` (registered with addSandbox). */
  async listen(host: string, port: number, asSandbox: EgressSandbox): Promise<string> {
    this.sandboxes.set(asSandbox.sandboxId, { info: asSandbox, rules: new EgressRules(asSandbox.policy) });
    this.tcpSandbox = asSandbox.sandboxId;
    const addr: AddressInfo = await this.listeners.listenTcp(host, port);
    return `http://${addr.address}:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const set of this.tunnels.values()) for (const s of set) s.destroy();
    await this.listeners.close();
  }

  private sandboxOf(socket: Duplex): { info: EgressSandbox; rules: EgressRules } | undefined {
    const id = (socket instanceof net.Socket ? sandboxOfSocket(socket) : undefined) ?? this.tcpSandbox;
    return id === undefined ? undefined : this.sandboxes.get(id);
  }

  /**
   * Checks host:port for a sandbox and resolves it: the address to dial, or a refusal already
   * reported.
   */
  private async admit(
    sbx: { info: EgressSandbox; rules: EgressRules } | undefined,
    rawHost: string,
    port: number,
  ): Promise<{ ok: true; address: string } | { ok: false; status: number; detail: string }> {
    const host = normalizeHost(rawHost);
    const refuse = (reason: EgressRefusalReason, detail: string, status = 403) => {
      this.opts.onEvent?.({
        type: 'refused',
        reason,
        detail,
        host,
        port,
        ...(sbx ? { sandboxId: sbx.info.sandboxId, task: sbx.info.task, namespace: sbx.info.namespace } : {}),
      });
      return { ok: false as const, status, detail };
    };
    if (sbx === undefined) return refuse('unknown-sandbox', 'this connection belongs to no live sandbox');
    if (host === '' || !Number.isInteger(port) || port < 1 || port > 65_535) return refuse('bad-request', 'bad host or port', 400);
    const byPolicy = sbx.rules.refusal(host, port);
    if (byPolicy !== undefined) return refuse('policy', byPolicy);
    let addresses: string[];
    if (net.isIP(host) !== 0) addresses = [host];
    else {
      try {
        addresses = (await this.lookup(host)).map((a) => a.address);
      } catch (err) {
        return refuse('dns', `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`, 502);
      }
      if (addresses.length === 0) return refuse('dns', `${host} does not resolve`, 502);
    }
    // One forbidden answer condemns the name: it is either misconfigured or a rebinding attempt.
    for (const a of addresses) {
      const why = this.addresses.check(a);
      if (why !== undefined) return refuse('forbidden-address', `${host} resolves to ${a}, ${why}, which sandboxes may never reach`);
    }
    const address = addresses[0] as string;
    this.opts.onEvent?.({
      type: 'connected',
      host,
      port,
      address,
      sandboxId: sbx.info.sandboxId,
      task: sbx.info.task,
      namespace: sbx.info.namespace,
    });
    return { ok: true, address };
  }

  private async onConnect(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const sbx = this.sandboxOf(client);
    const target = parseAuthority(req.url ?? '');
    const verdict = await this.admit(sbx, target?.host ?? '', target?.port ?? 0);
    if (!verdict.ok) {
      const body = `ccflow egress proxy: ${verdict.detail}\n`;
      client.end(
        `HTTP/1.1 ${verdict.status} ${verdict.status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const upstream = net.connect({ host: verdict.address, port: target!.port, timeout: this.opts.connectTimeoutMs ?? 15_000 });
    this.track(sbx!.info.sandboxId, client, upstream);
    upstream.once('timeout', () => upstream.destroy(new Error('connect timeout')));
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err) => {
      if (client.writable && upstream.connecting)
        client.end(`HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\nccflow egress proxy: ${err.message}\n`);
      else client.destroy();
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  /** Plain-HTTP proxying: `GET http://host/path`. */
  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sbx = this.sandboxOf(req.socket);
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = undefined;
    }
    if (url === undefined || url.protocol !== 'http:') {
      const verdict = await this.admit(sbx, url?.hostname ?? '', 0);
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end(`ccflow egress proxy: ${verdict.ok ? '' : verdict.detail}; only absolute http:// URLs and CONNECT are proxied\n`);
      return;
    }
    const port = url.port === '' ? 80 : Number(url.port);
    const verdict = await this.admit(sbx, url.hostname, port);
    if (!verdict.ok) {
      res.writeHead(verdict.status, { 'content-type': 'text/plain', connection: 'close' }).end(`ccflow egress proxy: ${verdict.detail}\n`);
      return;
    }
    const headers = forwardHeaders(req.headers);
    headers['host'] = url.host;
    const up = http.request({
      host: verdict.address,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
      agent: false,
    });
    // Cutting the client's connection ends the request (res 'close' below).
    this.track(sbx!.info.sandboxId, req.socket);
    up.once('response', (r) => {
      res.writeHead(r.statusCode ?? 502, forwardHeaders(r.headers));
      r.pipe(res);
    });
    up.once('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`ccflow egress proxy: ${err.message}\n`);
      else res.destroy();
    });
    res.once('close', () => up.destroy());
    req.pipe(up);
  }

  private track(sandboxId: string, ...streams: Duplex[]): void {
    const set = this.tunnels.get(sandboxId) ?? new Set<Duplex>();
    this.tunnels.set(sandboxId, set);
    for (const s of streams) {
      set.add(s);
      s.once('close', () => set.delete(s));
    }
  }
}

/** `host:port` of a CONNECT request (IPv6 in brackets). */
function parseAuthority(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  return { host: m[1], port: Number(m[2]) };
}
