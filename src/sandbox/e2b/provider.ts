/**
 * The E2B provider: each sandbox is an E2B microVM built from ccflow's template
 * (`sandbox-template/`), driven through the `e2b` SDK.
 *
 * What it does about E2B's sharp edges:
 * - detached processes start with `timeoutMs: 0` (the SDK's 60 s default kills them, connected
 *   client or not), in their own process group, with output and exit code going to files
 *   (`e2b-exec.ts`), because envd drops output nobody is subscribed to and forgets exit codes;
 * - the sandbox lifetime is renewed (`setTimeout`) while a worker uses the sandbox, and on
 *   reattach, so a long run does not outlive it; once nobody renews it, it expires by itself;
 * - SDK errors become ccflow SandboxErrors through one table (`e2b-errors.ts`), and a sandbox
 *   that is gone is reported as SandboxNotFoundError (the activity layer's `SandboxLost`).
 */
import { DEFAULT_E2B_TEMPLATE } from '../../domain/constants.js';
import { Sandbox as E2BSdkSandbox, type ConnectionOpts } from 'e2b';

import { SandboxInputError } from '../errors.js';
import { resolveRelative } from '../paths.js';
import { E2BSandbox, LIFETIME_KEY, guard, type E2BUnsafeTesting } from './sandbox.js';
import { type Sandbox, type SandboxCreateOpts, type SandboxInfo, type SandboxProvider } from '../types.js';
import { SANDBOX_WORKDIR } from '../layout.js';

export interface E2BProviderOpts {
  /** The E2B API key (E2B_API_KEY). */
  apiKey: string;
  /**
   * Template name or id sandboxes are created from.
   * @default DEFAULT_E2B_TEMPLATE
   */
  template?: string;
  /** Control plane URL; the SDK's default (`https://api.<domain>`) when absent. */
  apiUrl?: string;
  /** envd URL for every sandbox (a local E2B-compatible server); per-sandbox hosts when absent. */
  sandboxUrl?: string;
  /** E2B domain; the SDK's default (`e2b.app`) when absent. */
  domain?: string;
  /**
   * Timeout of each API / envd request.
   * @default 60_000 // 60 seconds
   */
  requestTimeoutMs?: number;
  /**
   * Sandbox lifetime without renewal when create() is not given one.
   * @default 3_600 // seconds
   */
  defaultTimeoutSeconds?: number;
  /**
   * Reproduce the mistakes this provider exists to avoid, so tests can show they bite:
   * start processes with the SDK's default command deadline, or never renew the lifetime.
   */
  unsafeTesting?: E2BUnsafeTesting;
}

export class E2BSandboxProvider implements SandboxProvider {
  readonly name = 'e2b' as const;
  readonly template: string;
  private readonly conn: ConnectionOpts;
  private readonly defaultTimeoutSeconds: number;

  constructor(private readonly opts: E2BProviderOpts) {
    this.template = opts.template ?? DEFAULT_E2B_TEMPLATE;
    this.defaultTimeoutSeconds = opts.defaultTimeoutSeconds ?? 3_600;
    this.conn = {
      apiKey: opts.apiKey,
      apiUrl: opts.apiUrl,
      sandboxUrl: opts.sandboxUrl,
      domain: opts.domain,
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    };
  }

  async create(opts: SandboxCreateOpts): Promise<Sandbox> {
    const lifetime = opts.timeoutSeconds ?? this.defaultTimeoutSeconds;
    if (!Number.isInteger(lifetime) || lifetime <= 0)
      throw new SandboxInputError(`sandbox timeout must be a positive number of seconds, not ${lifetime}`);
    // Paths are checked before anything is created.
    const seed = Object.entries(opts.files ?? {}).map(([rel, data]) => ({ path: resolveRelative(SANDBOX_WORKDIR, rel), data }));
    const sdk = await guard(() =>
      E2BSdkSandbox.create(this.template, {
        ...this.conn,
        metadata: { ...opts.metadata, [LIFETIME_KEY]: String(lifetime) },
        timeoutMs: lifetime * 1000,
      }),
    );
    const sandbox = new E2BSandbox(sdk, lifetime, this.conn, this.opts.unsafeTesting ?? {});
    try {
      await sandbox.prepare(seed);
    } catch (err) {
      await E2BSdkSandbox.kill(sdk.sandboxId, this.conn).catch(() => undefined);
      throw err;
    }
    return sandbox;
  }

  async connect(sandboxId: string): Promise<Sandbox> {
    // The lifetime the sandbox was created with: connect would otherwise extend it to the
    // API's 300 s default, and renewals need it.
    const info = await guard(() => E2BSdkSandbox.getInfo(sandboxId, this.conn), sandboxId);
    const lifetime = Number(info.metadata[LIFETIME_KEY]) || this.defaultTimeoutSeconds;
    const sdk = await guard(() => E2BSdkSandbox.connect(sandboxId, { ...this.conn, timeoutMs: lifetime * 1000 }), sandboxId);
    return new E2BSandbox(sdk, lifetime, this.conn, this.opts.unsafeTesting ?? {});
  }

  async destroy(sandboxId: string): Promise<void> {
    // false when it is already gone: quiet, as the interface promises.
    await guard(() => E2BSdkSandbox.kill(sandboxId, this.conn), sandboxId);
  }

  async list(filter?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]> {
    const want = filter?.metadata ?? {};
    const paginator = E2BSdkSandbox.list({ ...this.conn, query: { metadata: filter?.metadata, state: ['running', 'paused'] }, limit: 100 });
    const out: SandboxInfo[] = [];
    while (paginator.hasNext) {
      const page = await guard(() => paginator.nextItems());
      for (const s of page) {
        if (!Object.entries(want).every(([k, v]) => s.metadata[k] === v)) continue;
        const { [LIFETIME_KEY]: _lifetime, ...metadata } = s.metadata;
        out.push({ sandboxId: s.sandboxId, provider: 'e2b', metadata, createdAt: s.startedAt.getTime() });
      }
    }
    return out;
  }
}
