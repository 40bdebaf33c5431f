/**
 * The model proxy: every model request of every sandbox passes through it. It checks the
 * sandbox's token, refuses runs that have spent their budget, swaps the token for the worker's
 * real credential, and streams the answer back chunk by chunk while metering its usage.
 *
 * It forwards only what the CLI needs (the Messages API and the model list), so a token cannot
 * drive other endpoints (batches, files, admin) that would spend money the meter never sees.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import { applyCredential, presentedToken, type UpstreamCredential } from './credentials.js';
import { forwardHeaders, parseRetryAfter, sendApiError } from './http-util.js';
import { ProxyListeners, sandboxOfSocket } from './listeners.js';
import { RunMeters } from './run-meter.js';
import type { ProxyStateStore, RunUsage } from './state.js';
import type { MintInput, TokenClaims, TokenSigner } from './tokens.js';
import { JsonUsageReader, SseUsageReader } from './usage.js';

/** What the proxy reports, for logs and metrics. Never carries a token or a key. */
export type ModelProxyEvent =
  | {
      type: 'request';
      task: string;
      namespace: string;
      sandboxId: string;
      status: number;
      durationMs: number;
      costUsd: number;
      model?: string;
    }
  | {
      type: 'refused';
      reason: RefusalReason;
      path: string;
      task?: string;
      namespace?: string;
      sandboxId?: string;
    }
  | {
      type: 'upstream-error';
      task: string;
      namespace: string;
      sandboxId: string;
      status: number;
      retryAfterSeconds?: number;
    }
  | { type: 'error'; message: string };

export type RefusalReason = 'no-token' | 'malformed' | 'bad-signature' | 'expired' | 'revoked' | 'wrong-sandbox' | 'budget' | 'path';

export interface ModelProxyOptions {
  /** Base URL of the real API (or a gateway), e.g. `https://api.anthropic.com`. */
  upstreamUrl: string;
  credential: UpstreamCredential;
  signer: TokenSigner;
  state: ProxyStateStore;
  onEvent?: (e: ModelProxyEvent) => void;
}

/** Paths forwarded upstream (after the base URL's own path); everything else is refused. */
const FORWARDED: ReadonlyArray<{ method: string; path: RegExp; metered: boolean }> = [
  { method: 'POST', path: /^\/v1\/messages$/, metered: true },
  { method: 'POST', path: /^\/v1\/messages\/count_tokens$/, metered: false },
  { method: 'GET', path: /^\/v1\/models(\/[A-Za-z0-9._@-]+)?$/, metered: false },
];

/** Headers a client must not pass upstream: its own credentials, and compression (the meter reads plain text). */
const DROPPED_REQUEST_HEADERS = ['host', 'x-api-key', 'authorization', 'accept-encoding', 'cookie'];

export class ModelProxy {
  private readonly server: http.Server;
  private readonly listeners: ProxyListeners;
  private readonly meters: RunMeters;
  private readonly upstream: URL;
  private readonly agent: http.Agent;
  /** Open upstream requests per sandbox, cut when the sandbox is revoked. */
  private readonly inflight = new Map<string, Set<http.ClientRequest>>();

  constructor(private readonly opts: ModelProxyOptions) {
    this.upstream = new URL(opts.upstreamUrl);
    if (this.upstream.protocol !== 'http:' && this.upstream.protocol !== 'https:') {
      throw new Error(`the model proxy's upstream must be an http(s) URL, not ${opts.upstreamUrl}`);
    }
    const agentOpts = { keepAlive: true, maxSockets: 256 };
    this.agent = this.upstream.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.server = http.createServer({ noDelay: true }, (req, res) => void this.handle(req, res));
    this.listeners = new ProxyListeners(this.server);
    this.meters = new RunMeters(opts.state, (err) =>
      this.opts.onEvent?.({ type: 'error', message: `could not save a run's usage: ${String(err)}` }),
    );
  }

  /** Listens on TCP and returns the base URL sandboxes use as ANTHROPIC_BASE_URL. */
  async listen(host = '127.0.0.1', port = 0): Promise<string> {
    const addr: AddressInfo = await this.listeners.listenTcp(host, port);
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${h}:${addr.port}`;
  }

  /** Serves one local sandbox on a Unix socket (bound into its jail). */
  addSandboxSocket(socketPath: string, sandboxId: string): Promise<void> {
    return this.listeners.addSandbox(socketPath, sandboxId);
  }

  hasSandboxSocket(sandboxId: string): boolean {
    return this.listeners.hasSandbox(sandboxId);
  }

  /** A token for one agent run: its model key. */
  mint(input: MintInput): string {
    if (this.opts.state.isRevoked(input.sbx)) throw new Error(`sandbox ${input.sbx} was torn down; no new tokens for it`);
    return this.opts.signer.mint(input);
  }

  /** Refuses every token of a sandbox from now on, and cuts its open requests and sockets. */
  async revokeSandbox(sandboxId: string): Promise<void> {
    await this.opts.state.revoke(sandboxId);
    this.meters.forgetSandbox(sandboxId);
    for (const r of this.inflight.get(sandboxId) ?? []) r.destroy(new Error('sandbox torn down'));
    this.inflight.delete(sandboxId);
    await this.listeners.removeSandbox(sandboxId);
  }

  /** What one run spent and saw, from the proxy's side. */
  runUsage(sandboxId: string, run: string): Promise<RunUsage | undefined> {
    return this.meters.get(sandboxId, run);
  }

  async close(): Promise<void> {
    await this.listeners.close();
    this.agent.destroy();
    await this.meters.flush();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    // The CLI checks connectivity with HEAD / first: answered here, nothing to forward.
    if ((req.method === 'HEAD' || req.method === 'GET') && url.pathname === '/') {
      res.writeHead(200, { 'content-length': 0 }).end();
      return;
    }
    const route = FORWARDED.find((r) => r.method === req.method && r.path.test(url.pathname));
    if (route === undefined) {
      this.refuse(
        res,
        'path',
        url.pathname,
        404,
        'not_found_error',
        `ccflow's model proxy forwards only the Messages API, not ${req.method} ${url.pathname}`,
      );
      return;
    }
    const claims = this.authenticate(req, res, url.pathname);
    if (claims === undefined) return;
    const who = { task: claims.task, namespace: claims.ns, sandboxId: claims.sbx };
    if (route.metered && (await this.meters.overBudget(claims.sbx, claims.run, claims.budget))) {
      await this.meters.refused(claims.sbx, claims.run, claims.budget);
      this.refuse(
        res,
        'budget',
        url.pathname,
        402,
        'billing_error',
        `ccflow: this task has spent its budget ($${claims.budget?.toFixed(4)} left for this run when it started)`,
        who,
      );
      return;
    }
    await this.forward(req, res, url, claims, route.metered);
  }

  /** The token's claims, or undefined after answering 401. */
  private authenticate(req: IncomingMessage, res: ServerResponse, path: string): TokenClaims | undefined {
    const token = presentedToken(req.headers);
    if (token === undefined) {
      this.refuse(res, 'no-token', path, 401, 'authentication_error', 'ccflow: no model token');
      return undefined;
    }
    const v = this.opts.signer.verify(token);
    if (!v.ok) {
      this.refuse(res, v.reason, path, 401, 'authentication_error', `ccflow: invalid model token (${v.reason})`);
      return undefined;
    }
    const who = { task: v.claims.task, namespace: v.claims.ns, sandboxId: v.claims.sbx };
    if (this.opts.state.isRevoked(v.claims.sbx)) {
      this.refuse(res, 'revoked', path, 401, 'authentication_error', 'ccflow: this sandbox was torn down; its model token is revoked', who);
      return undefined;
    }
    const socketSandbox = sandboxOfSocket(req.socket);
    if (socketSandbox !== undefined && socketSandbox !== v.claims.sbx) {
      this.refuse(res, 'wrong-sandbox', path, 401, 'authentication_error', 'ccflow: this token belongs to another sandbox', who);
      return undefined;
    }
    return v.claims;
  }

  private async forward(req: IncomingMessage, res: ServerResponse, url: URL, claims: TokenClaims, metered: boolean): Promise<void> {
    const started = Date.now();
    const headers = forwardHeaders(req.headers, DROPPED_REQUEST_HEADERS);
    applyCredential(headers, this.opts.credential);
    const base = this.upstream.pathname.replace(/\/$/, '');
    const lib = this.upstream.protocol === 'https:' ? https : http;
    const who = { task: claims.task, namespace: claims.ns, sandboxId: claims.sbx };
    const upstreamReq = lib.request({
      protocol: this.upstream.protocol,
      hostname: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: `${base}${url.pathname}${url.search}`,
      headers,
      agent: this.agent,
    });
    const inflight = this.inflight.get(claims.sbx) ?? new Set();
    inflight.add(upstreamReq);
    this.inflight.set(claims.sbx, inflight);
    const done = () => inflight.delete(upstreamReq);
    let abandoned = false;
    // The client went away (the agent was killed): stop paying for the answer.
    res.once('close', () => {
      if (!res.writableFinished) {
        abandoned = true;
        upstreamReq.destroy();
      }
      done();
    });

    upstreamReq.once('error', (err) => {
      done();
      // Cut on purpose (client gone, sandbox revoked): not an upstream failure.
      if (abandoned || this.opts.state.isRevoked(claims.sbx)) {
        res.destroy();
        return;
      }
      void this.meters.upstreamError(claims.sbx, claims.run, claims.budget, { status: 502, errorType: 'network', at: Date.now() });
      this.opts.onEvent?.({ type: 'upstream-error', ...who, status: 502 });
      if (!res.headersSent)
        sendApiError(res, 502, 'api_error', `ccflow: the model endpoint could not be reached (${err.message})`, {
          'x-should-retry': 'true',
        });
      else res.destroy();
    });
    upstreamReq.once('response', (up) => {
      const status = up.statusCode ?? 502;
      res.writeHead(status, forwardHeaders(up.headers));
      res.flushHeaders();
      const isSse = String(up.headers['content-type'] ?? '').includes('text/event-stream');
      const reader = metered || status >= 400 ? (isSse ? new SseUsageReader() : new JsonUsageReader()) : undefined;
      up.on('data', (chunk: Buffer) => {
        reader?.push(chunk);
        // Backpressure: a slow client slows upstream instead of filling memory.
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.once('end', () => {
        res.end();
        done();
        void this.finish(claims, status, up.headers['retry-after'], reader?.end(), metered, started);
      });
      up.once('error', () => res.destroy());
    });
    req.pipe(upstreamReq);
  }

  private async finish(
    claims: TokenClaims,
    status: number,
    retryAfter: string | string[] | undefined,
    usage: ReturnType<SseUsageReader['end']> | undefined,
    metered: boolean,
    started: number,
  ): Promise<void> {
    const who = { task: claims.task, namespace: claims.ns, sandboxId: claims.sbx };
    let cost = 0;
    if (metered && usage !== undefined && status < 400) cost = await this.meters.record(claims.sbx, claims.run, claims.budget, usage);
    const failed = status === 429 || status >= 500 || usage?.errorType === 'overloaded_error';
    if (failed) {
      const retryAfterSeconds = parseRetryAfter(retryAfter);
      await this.meters.upstreamError(claims.sbx, claims.run, claims.budget, {
        status: status < 400 && usage?.errorType === 'overloaded_error' ? 529 : status,
        ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
        ...(usage?.errorType === undefined ? {} : { errorType: usage.errorType }),
        at: Date.now(),
      });
      this.opts.onEvent?.({ type: 'upstream-error', ...who, status, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
    }
    this.opts.onEvent?.({
      type: 'request',
      ...who,
      status,
      durationMs: Date.now() - started,
      costUsd: cost,
      ...(usage?.model === undefined ? {} : { model: usage.model }),
    });
  }

  private refuse(
    res: ServerResponse,
    reason: RefusalReason,
    path: string,
    status: number,
    type: string,
    message: string,
    who: { task?: string; namespace?: string; sandboxId?: string } = {},
  ): void {
    this.opts.onEvent?.({ type: 'refused', reason, path, ...who });
    sendApiError(res, status, type, message);
  }
}
