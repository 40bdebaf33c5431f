/** One E2B sandbox behind ccflow's Sandbox interface: renewed while used, its errors translated. */
import {
  FileNotFoundError,
  Sandbox as E2BSdkSandbox,
  SandboxError as SdkSandboxError,
  SandboxNotFoundError as SdkSandboxNotFoundError,
  TimeoutError,
  type ConnectionOpts,
} from 'e2b';

import { SandboxInputError, SandboxNotFoundError } from '../errors.js';
import { SANDBOX_WORKDIR } from '../layout.js';
import { normalizeInside } from '../paths.js';
import type { ExecDetachedOpts, ProcessHandle, ProcessState, Sandbox } from '../types.js';
import { isGoneCandidate, translateE2BError } from './errors.js';
import { detachedCommand, killCommand, WRAPPER_NAME } from './exec.js';

/**
 * Reproduce the mistakes the provider exists to avoid, so tests can show they bite: start
 * processes with the SDK's default command deadline, or never renew the lifetime.
 */
export interface E2BUnsafeTesting {
  omitZeroCommandTimeout?: boolean;
  disableRenewal?: boolean;
}

/** Metadata key under which a sandbox remembers its lifetime, for renewals after reattach. */
export const LIFETIME_KEY = 'ccflowTimeoutSeconds';
/** envd's port: the SDK sends it with every envd request, and so do we. */
const ENVD_PORT = '49983';

/** Runs an SDK call, translating its errors. */
export async function guard<T>(fn: () => Promise<T>, sandboxId?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw translateE2BError(err, sandboxId);
  }
}

export class E2BSandbox implements Sandbox {
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
    private readonly testing: E2BUnsafeTesting,
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
