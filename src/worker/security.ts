/**
 * What keeps a worker's sandboxes inside their box, put together in one place: the model
 * proxy (sandboxes hold tokens, the worker the credential), the egress proxy, the limit and
 * disk mechanisms this host allows, and what activities and the local provider need of them.
 * The worker and the test harness both build it here, so tests run what production runs.
 */
import { lookup } from 'node:dns/promises';
import path from 'node:path';

import type { MetricMeter } from '@temporalio/common';

import type { ModelAccess } from '../activities/deps.js';
import { policyKind, usesEgress, type EgressPolicy } from '../domain/network.js';
import { type AddressPolicy } from '../proxy/address-policy.js';
import type { UpstreamCredential } from '../proxy/credentials.js';
import { EgressProxy, type EgressEvent, type Lookup } from '../proxy/egress-proxy.js';
import { ModelProxy, type ModelProxyEvent } from '../proxy/model-proxy.js';
import { loadOrCreateSecret } from '../proxy/secret.js';
import { FileStateStore } from '../proxy/state.js';
import { DEFAULT_TOKEN_MAX_AGE_MS, TokenSigner } from '../proxy/tokens.js';
import { modelEndpointEntries } from '../sandbox/e2b/network.js';
import { detectLimits, type LimitPreference } from '../sandbox/local/limits/detect.js';
import { LoopExt4Disk, WatchdogDisk, type DiskController } from '../sandbox/local/limits/disk.js';
import type { LimitController } from '../sandbox/local/limits/types.js';
import { agentNetworkEnv, jailNetworkFor, type LocalNetworkHooks, EGRESS_SOCKET, MODEL_SOCKET } from '../sandbox/local/network.js';

export const DEFAULT_UPSTREAM = 'https://api.anthropic.com';

export interface SecurityOptions {
  /** Where the proxy keeps its secret, revocations and per-run usage. */
  stateDir: string;
  /** The model API (ANTHROPIC_BASE_URL), or Anthropic's. */
  upstreamUrl?: string | undefined;
  credential: UpstreamCredential;
  /** CCFLOW_PROXY_SECRET; a per-host file under stateDir when absent. */
  secret?: Buffer | undefined;
  /** Where the model proxy listens on TCP (for E2B sandboxes, through modelProxyUrl). @default 127.0.0.1, any port */
  modelProxyListen?: { host: string; port: number } | undefined;
  /** CCFLOW_MODEL_PROXY_URL: the proxy as E2B sandboxes reach it (a function of the listening URL for tests on one host). */
  modelProxyUrl?: string | ((listenUrl: string) => string) | undefined;
  /** CCFLOW_E2B_PASS_MODEL_KEY: without a proxy URL, E2B sandboxes get the real credential. */
  e2bPassModelKey?: boolean;
  /** Local isolation: `none` runs agents on the host, which reach the proxy over TCP. */
  isolation: 'bubblewrap' | 'none';
  limits?: { prefer?: LimitPreference; cgroupParent?: string | undefined };
  /** @default 'auto' (a loop-mounted image where the worker may mount, else the watchdog) */
  disk?: 'auto' | 'loop' | 'watchdog';
  /** Tests stand a local server in for a public host. */
  egress?: { lookup?: Lookup; addresses?: AddressPolicy };
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  meter?: MetricMeter | undefined;
}

/** What a sandbox that must not reach its model gets instead of a token: the proxy refuses it at once. */
export const NO_MODEL_ACCESS = 'ccflow-network-none';

export class SandboxSecurity {
  /** The proxy as E2B sandboxes reach it, when configured. */
  private readonly publicUrl: string | undefined;

  private constructor(
    readonly modelProxy: ModelProxy,
    readonly egressProxy: EgressProxy,
    /** The model proxy's TCP address (what unisolated agents and E2B, through modelProxyUrl, reach). */
    readonly modelProxyTcpUrl: string,
    readonly limits: LimitController,
    readonly disk: DiskController,
    private readonly notes: string[],
    private readonly o: SecurityOptions,
    private readonly signer: TokenSigner,
  ) {
    this.publicUrl = typeof o.modelProxyUrl === 'function' ? o.modelProxyUrl(modelProxyTcpUrl) : o.modelProxyUrl;
  }

  static async start(o: SecurityOptions): Promise<SandboxSecurity> {
    const notes: string[] = [];
    const secret = o.secret ?? (await loadOrCreateSecret(path.join(o.stateDir, 'proxy-secret')));
    const signer = new TokenSigner({ secret });
    const state = new FileStateStore(path.join(o.stateDir, 'proxy'), { retainMs: DEFAULT_TOKEN_MAX_AGE_MS });
    await state.load();
    const metrics = proxyMetrics(o.meter);
    const modelProxy = new ModelProxy({
      upstreamUrl: o.upstreamUrl ?? DEFAULT_UPSTREAM,
      credential: o.credential,
      signer,
      state,
      onEvent: (e) => {
        metrics.model(e);
        logModelEvent(o.log, e);
      },
    });
    const egressProxy = new EgressProxy({
      ...(o.egress?.lookup ? { lookup: o.egress.lookup } : {}),
      ...(o.egress?.addresses ? { addresses: o.egress.addresses } : {}),
      onEvent: (e) => {
        metrics.egress(e);
        if (e.type === 'refused') o.log('warn', 'egress refused', { ...e });
      },
    });
    const listen = o.modelProxyListen ?? { host: '127.0.0.1', port: 0 };
    const tcpUrl = await modelProxy.listen(listen.host, listen.port);
    const { controller: limits, passedOver } = await detectLimits({
      prefer: o.limits?.prefer ?? 'auto',
      cgroupParent: o.limits?.cgroupParent,
    });
    for (const p of passedOver) notes.push(`limits: passed over ${p}`);
    const diskPref = o.disk ?? 'auto';
    let disk: DiskController = new WatchdogDisk();
    if (diskPref !== 'watchdog' && o.isolation === 'bubblewrap') {
      const why = await LoopExt4Disk.probe();
      if (why === undefined) disk = new LoopExt4Disk();
      else if (diskPref === 'loop') throw new Error(`CCFLOW_SANDBOX_DISK=loop, but this host cannot loop-mount a disk image: ${why}`);
      else notes.push(`disk: no loop mounts here (${why})`);
    }
    return new SandboxSecurity(modelProxy, egressProxy, tcpUrl, limits, disk, notes, o, signer);
  }

  /** Lines for the worker's start message: mechanisms, network mode, proxies, and warnings. */
  describe(): { info: string[]; warnings: string[] } {
    const info = [
      `limits: ${this.limits.describe()}`,
      `disk: ${this.disk.describe()}`,
      this.o.isolation === 'bubblewrap'
        ? 'network: each jail has its own namespace; the model and egress proxies come in as Unix sockets'
        : 'network: UNISOLATED (agents share the host network)',
      `model proxy: ${this.modelProxyTcpUrl}${this.publicUrl ? ` (E2B sandboxes: ${this.publicUrl})` : ''} → ${this.o.upstreamUrl ?? DEFAULT_UPSTREAM}`,
    ];
    const warnings = [...this.notes];
    if (this.limits.mechanism === 'none')
      warnings.push('limits: NONE — memory, processes and CPU of sandboxes are not limited on this host');
    if (this.e2bHoldsKey()) {
      warnings.push(
        'E2B sandboxes get the real model credential (CCFLOW_E2B_PASS_MODEL_KEY=1, no CCFLOW_MODEL_PROXY_URL); such tasks are marked CcflowModelKeyInSandbox',
      );
    }
    return { info, warnings };
  }

  /** The local provider's side: serve a sandbox's sockets, and stop (revoking its tokens). */
  readonly localNetwork: LocalNetworkHooks = {
    attach: async ({ sandboxId, socketsDir, policy, task }) => {
      if (!this.modelProxy.hasSandboxSocket(sandboxId))
        await this.modelProxy.addSandboxSocket(path.join(socketsDir, MODEL_SOCKET), sandboxId);
      if (usesEgress(policy) && !this.egressProxy.hasSandbox(sandboxId)) {
        await this.egressProxy.addSandbox(path.join(socketsDir, EGRESS_SOCKET), {
          sandboxId,
          task: task.workflowId,
          namespace: task.namespace,
          policy,
        });
      }
    },
    detach: async (sandboxId) => {
      await this.egressProxy.removeSandbox(sandboxId);
      await this.modelProxy.revokeSandbox(sandboxId);
    },
  };

  /** The activities' side: a token and an endpoint per run, the proxy's record, revocation. */
  readonly modelAccess: ModelAccess = {
    runEnv: (r) => this.runEnv(r),
    keyInSandbox: (provider) => provider === 'e2b' && this.e2bHoldsKey(),
    runUsage: (sandboxId, run) => this.modelProxy.runUsage(sandboxId, run),
    revoke: (sandboxId) => this.modelProxy.revokeSandbox(sandboxId),
  };

  /** Whether a token was minted by this security's proxy (signed with its secret). */
  ownsToken(token: string): boolean {
    return this.signer.verify(token).ok;
  }

  /** allowOut entries an E2B sandbox needs for its model (the proxy URL, or the API when the key is passed). */
  async e2bModelEndpoints(): Promise<string[]> {
    const url = this.publicUrl ?? (this.e2bHoldsKey() ? (this.o.upstreamUrl ?? DEFAULT_UPSTREAM) : undefined);
    if (url === undefined) return [];
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const addresses = await lookup(host, { all: true }).then(
      (a) => a.map((x) => x.address),
      () => [],
    );
    return modelEndpointEntries(url, addresses);
  }

  async close(): Promise<void> {
    await this.egressProxy.close();
    await this.modelProxy.close();
    await this.limits.dispose();
  }

  private e2bHoldsKey(): boolean {
    return this.publicUrl === undefined && this.o.e2bPassModelKey === true;
  }

  private runEnv(r: Parameters<ModelAccess['runEnv']>[0]): Record<string, string> {
    const none = policyKind(r.network) === 'none';
    const token = () =>
      none
        ? NO_MODEL_ACCESS
        : this.modelProxy.mint({
            sbx: r.sandboxId,
            task: r.task.workflowId,
            ns: r.task.namespace,
            run: r.run,
            ...(r.budgetUsd === undefined ? {} : { budget: Math.max(0, r.budgetUsd) }),
          });
    if (r.provider === 'local') {
      if (this.o.isolation === 'none') return { ANTHROPIC_BASE_URL: this.modelProxyTcpUrl, ANTHROPIC_API_KEY: token() };
      // The provider binds the sockets at /run/ccflow; the paths inside are fixed.
      return { ...agentNetworkEnv(jailNetworkFor(r.network as EgressPolicy, '/unused')), ANTHROPIC_API_KEY: token() };
    }
    if (this.publicUrl !== undefined) return { ANTHROPIC_BASE_URL: this.publicUrl, ANTHROPIC_API_KEY: token() };
    // A `none` sandbox reaches the model API but holds no credential: its first request is refused.
    if (this.e2bHoldsKey())
      return passedCredential(none ? { kind: 'apiKey', value: NO_MODEL_ACCESS } : this.o.credential, this.o.upstreamUrl);
    throw new Error('E2B sandboxes need CCFLOW_MODEL_PROXY_URL (or CCFLOW_E2B_PASS_MODEL_KEY=1 to pass the key)');
  }
}

/** The real credential as the CLI reads it from its environment (the E2B fallback only). */
function passedCredential(c: UpstreamCredential, upstreamUrl: string | undefined): Record<string, string> {
  const name = c.kind === 'apiKey' ? 'ANTHROPIC_API_KEY' : c.kind === 'authToken' ? 'ANTHROPIC_AUTH_TOKEN' : 'CLAUDE_CODE_OAUTH_TOKEN';
  return { [name]: c.value, ...(upstreamUrl !== undefined ? { ANTHROPIC_BASE_URL: upstreamUrl } : {}) };
}

function logModelEvent(log: SecurityOptions['log'], e: ModelProxyEvent): void {
  if (e.type === 'refused') log('warn', 'model proxy refused a request', { ...e });
  else if (e.type === 'upstream-error') log('warn', 'model endpoint error', { ...e });
  else if (e.type === 'error') log('error', e.message);
}

/** Counters on Temporal's meter (the worker's /metrics); no-ops without a meter. */
function proxyMetrics(meter: MetricMeter | undefined): { model: (e: ModelProxyEvent) => void; egress: (e: EgressEvent) => void } {
  if (meter === undefined) return { model: () => undefined, egress: () => undefined };
  const requests = meter.createCounter('ccflow_model_proxy_requests_total', 'requests', 'Model requests forwarded by the proxy, by status');
  const refused = meter.createCounter('ccflow_model_proxy_refusals_total', 'requests', 'Model requests the proxy refused, by reason');
  const upstream = meter.createCounter('ccflow_model_upstream_errors_total', 'requests', 'Upstream 429/529/5xx answers, by status');
  const egressRefused = meter.createCounter(
    'ccflow_egress_refusals_total',
    'connections',
    'Connections the egress proxy refused, by reason',
  );
  const egressAllowed = meter.createCounter('ccflow_egress_connections_total', 'connections', 'Connections the egress proxy let through');
  return {
    model: (e) => {
      if (e.type === 'request') requests.add(1, { status: String(e.status) });
      else if (e.type === 'refused') refused.add(1, { reason: e.reason });
      else if (e.type === 'upstream-error') upstream.add(1, { status: String(e.status) });
    },
    egress: (e) => {
      if (e.type === 'refused') egressRefused.add(1, { reason: e.reason });
      else egressAllowed.add(1);
    },
  };
}
