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
import {
  FileNotFoundError,
  Sandbox as E2BSdkSandbox,
  SandboxError as SdkSandboxError,
  SandboxNotFoundError as SdkSandboxNotFoundError,
  TimeoutError,
  type ConnectionOpts,
} from 'e2b';

import { detachedCommand, killCommand, WRAPPER_NAME } from './exec.js';
import { isGoneCandidate, translateE2BError } from './errors.js';
import { SandboxInputError, SandboxNotFoundError } from '../errors.js';
import { normalizeInside, resolveRelative } from '../paths.js';
import {
  type ExecDetachedOpts,
  type ProcessHandle,
  type ProcessState,
  type Sandbox,
  type SandboxCreateOpts,
  type SandboxInfo,
  type SandboxProvider,
} from '../types.js';
import { SANDBOX_WORKDIR } from '../layout.js';

/** Metadata key under which a sandbox remembers its lifetime, for renewals after reattach. */
const LIFETIME_KEY = 'ccflowTimeoutSeconds';
/** envd's port: the SDK sends it with every envd request, and so do we. */
const ENVD_PORT = '49983';

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
  unsafeTesting?: { omitZeroCommandTimeout?: boolean; disableRenewal?: boolean };
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

/** Runs an SDK call, translating its errors. */
async function guard<T>(fn: () => Promise<T>, sandboxId?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateE2BError(err, sandboxId);
  }
}

class E2BSandbox implements Sandbox {
  readonly provider = 'e2b' as const;
  readonly sandboxId: string;
  private readonly lifetimeMs: number;
  private readonly renewEveryMs: number;
  private lastRenewAt = Date.now();
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly sdk: E2BSdkSandbox,
    lifetimeSeconds: number,
    private readonly conn: ConnectionOpts,
    private readonly testing: NonNullable<E2BProviderOpts['unsafeTesting']>,
  ) {
    this.sandboxId = sdk.sandboxId;
    this.lifetimeMs = lifetimeSeconds * 1000;
    // Often enough that a missed renewal or two still leaves the sandbox alive.
    this.renewEveryMs = Math.min(60_000, Math.max(500, Math.floor(this.lifetimeMs / 3)));
  }

  /** Makes sure the workspace exists and seeds it. */
  async prepare(files: Array<{ path: string; data: string }>): Promise<void> {
    await this.call(() => this.sdk.files.makeDir(SANDBOX_WORKDIR));
    if (files.length > 0) await this.call(() => this.sdk.files.write(files));
  }

  async execDetached(command: string[], opts: ExecDetachedOpts): Promise<ProcessHandle> {
    const { cmd, envs } = detachedCommand(command, opts);
    // A stale exit code would make the new process look finished.
    await this.call(() => this.sdk.files.remove(normalizeInside(opts.exitCodePath)));
    const handle = await this.call(() =>
      this.sdk.commands.run(cmd, { background: true, envs, ...(this.testing.omitZeroCommandTimeout ? {} : { timeoutMs: 0 }) }),
    );
    // Output goes to files: nothing to stream, and the process runs on without us.
    await handle.disconnect();
    return { pid: handle.pid };
  }

  async processState(pid: number, exitCodePath: string): Promise<ProcessState> {
    const code = await this.readExitCode(exitCodePath);
    if (code !== undefined) return { state: 'exited', exitCode: code };
    const processes = await this.call(() => this.sdk.commands.list());
    if (processes.some((p) => p.pid === pid && p.args.some((a) => a.includes(WRAPPER_NAME)))) return { state: 'running' };
    // It may have ended between the two looks; otherwise it died without recording a code.
    return { state: 'exited', exitCode: (await this.readExitCode(exitCodePath)) ?? null };
  }

  async kill(pid: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const cmd = killCommand(pid, signal);
    await this.call(() => this.sdk.commands.run(cmd, { timeoutMs: 30_000 }));
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const p = normalizeInside(path);
    return this.call(async () => {
      try {
        return Buffer.from(await this.sdk.files.read(p, { format: 'bytes' }));
      } catch (err) {
        if (err instanceof FileNotFoundError) return undefined;
        throw err;
      }
    });
  }

  async readFileFrom(path: string, offset: number, maxBytes: number): Promise<Buffer> {
    const p = normalizeInside(path);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new SandboxInputError(`bad read range: offset ${offset}, maxBytes ${maxBytes}`);
    }
    if (maxBytes === 0) return Buffer.alloc(0);
    // envd serves /files with Go's http.ServeContent, so a Range request reads just the tail
    // (the SDK's files.read always fetches the whole file).
    return this.call(async () => {
      const url = await this.sdk.downloadUrl(p, { useSignatureExpiration: 300 });
      const res = await fetch(url, {
        headers: { Range: `bytes=${offset}-${offset + maxBytes - 1}`, 'E2b-Sandbox-Id': this.sandboxId, 'E2b-Sandbox-Port': ENVD_PORT },
        signal: AbortSignal.timeout(this.conn.requestTimeoutMs ?? 60_000),
      });
      if (res.status === 206) return Buffer.from(await res.arrayBuffer());
      if (res.status === 200) return Buffer.from(await res.arrayBuffer()).subarray(offset, offset + maxBytes);
      const text = await res.text().catch(() => '');
      // Nothing at or after the offset yet (416), or no file yet (404).
      if (res.status === 416 || res.status === 404) return Buffer.alloc(0);
      if (res.status === 502) throw new TimeoutError(`envd unreachable (HTTP 502): ${text}`);
      const err = new SdkSandboxError(`${res.status}: ${text}`);
      err.statusCode = res.status;
      throw err;
    });
  }

  async writeFile(path: string, content: string | Buffer): Promise<void> {
    const p = normalizeInside(path);
    const data = typeof content === 'string' ? content : new Uint8Array(content).buffer;
    await this.call(() => this.sdk.files.write(p, data));
  }

  async renew(timeoutSeconds: number): Promise<void> {
    if (this.testing.disableRenewal) return;
    this.lastRenewAt = Date.now();
    await this.call(() => this.sdk.setTimeout(timeoutSeconds * 1000), { renew: false });
  }

  private async readExitCode(path: string): Promise<number | undefined> {
    const raw = await this.readFile(path);
    if (raw === undefined) return undefined;
    const code = Number.parseInt(raw.toString('utf8').trim(), 10);
    return Number.isInteger(code) ? code : undefined;
  }

  /**
   * Every call renews the lifetime when it is due: a worker that follows a run polls the
   * sandbox all the time, so the sandbox lives as long as somebody uses it.
   */
  private async keepAlive(): Promise<void> {
    if (this.testing.disableRenewal || Date.now() - this.lastRenewAt < this.renewEveryMs) return;
    this.renewing ??= (async () => {
      try {
        this.lastRenewAt = Date.now();
        await this.sdk.setTimeout(this.lifetimeMs);
      } finally {
        this.renewing = undefined;
      }
    })();
    await this.renewing;
  }

  /** Runs one SDK call on this sandbox, renewing first and translating errors. */
  private async call<T>(fn: () => Promise<T>, o: { renew?: boolean } = {}): Promise<T> {
    try {
      if (o.renew !== false) await this.keepAlive();
      return await fn();
    } catch (err) {
      throw await this.translate(err);
    }
  }

  /** Like translateE2BError, but first asks the control plane whether the sandbox is gone. */
  private async translate(err: unknown): Promise<Error> {
    if (isGoneCandidate(err)) {
      const gone = await E2BSdkSandbox.getInfo(this.sandboxId, this.conn).then(
        () => false,
        (probeErr: unknown) => probeErr instanceof SdkSandboxNotFoundError,
      );
      if (gone) return new SandboxNotFoundError(this.sandboxId, { cause: err });
    }
    return translateE2BError(err, this.sandboxId);
  }
}
