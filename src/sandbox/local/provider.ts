/**
 * The local sandbox provider: one directory per sandbox on this host, with every process
 * jailed by bubblewrap (or, when explicitly opted in, run unisolated).
 *
 * Layout of `<rootDir>/<sandboxId>/`:
 *   sandbox.json   id, metadata, createdAt, timeout (see SandboxRecord)
 *   home/          bound at /home/user (HOME); the workspace is home/workspace
 *   tmp/           bound at /tmp (private to the sandbox, visible to the provider)
 *   procs/<pid>.json  every process group started, so destroy() can kill them after a
 *                  worker restart
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { SandboxInputError, SandboxNotFoundError } from '../errors.js';
import { SANDBOX_WORKDIR } from '../layout.js';
import { resolveRelative } from '../paths.js';
import type { SandboxCreateOpts, SandboxInfo, SandboxProvider } from '../types.js';
import { checkBubblewrap } from './bwrap.js';
import { groupMembers, ownsGroup } from './procfs.js';
import { SANDBOX_ID_RE, forceRemove, readProcRecords, readSandboxRecord, writeJsonAtomic, type SandboxRecord } from './records.js';
import { signalGroup } from './process.js';
import { LocalSandbox, type LocalIsolation, type LocalSandboxMounts, type ProviderContext } from './sandbox.js';

export interface LocalSandboxProviderOpts {
  /** Where sandboxes live, one directory each. */
  rootDir: string;
  mounts: LocalSandboxMounts;
  /**
   * `none` runs agents directly on the host (HOME and cwd pointed into the sandbox dir) and
   * must be an explicit choice.
   * @default 'bubblewrap'
   */
  isolation?: LocalIsolation;
  /** @default 'bwrap' (looked up on PATH) */
  bwrapPath?: string;
}

const DEFAULT_TIMEOUT_SECONDS = 3600;
export class LocalSandboxProvider implements SandboxProvider {
  readonly name = 'local' as const;
  private readonly rootDir: string;
  private readonly ctx: ProviderContext;

  constructor(opts: LocalSandboxProviderOpts) {
    this.rootDir = path.resolve(opts.rootDir);
    const isolation = opts.isolation ?? 'bubblewrap';
    if (isolation !== 'bubblewrap' && isolation !== 'none') {
      throw new SandboxInputError(`unknown isolation ${JSON.stringify(isolation)}`);
    }
    const bwrapPath = opts.bwrapPath ?? 'bwrap';
    if (isolation === 'bubblewrap') void checkBubblewrap(bwrapPath).catch(() => undefined);
    const m = opts.mounts;
    this.ctx = {
      isolation,
      mounts: {
        claudeBinary: path.resolve(m.claudeBinary),
        nodeBinary: path.resolve(m.nodeBinary),
        resultServerDir: path.resolve(m.resultServerDir),
        nodeModulesDir: path.resolve(m.nodeModulesDir),
      },
      bwrap: () => checkBubblewrap(bwrapPath),
    };
  }

  /** Throws BubblewrapMissingError unless bwrap can start a jail (probed once per path). */
  static async check(bwrapPath = 'bwrap'): Promise<void> {
    await checkBubblewrap(bwrapPath);
  }

  /** Checks that this provider can run processes (bwrap works, unless isolation is `none`). */
  async check(): Promise<void> {
    if (this.ctx.isolation === 'bubblewrap') await this.ctx.bwrap();
  }

  async create(opts: SandboxCreateOpts): Promise<LocalSandbox> {
    await this.check();
    await this.checkMounts();
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string') throw new SandboxInputError(`metadata ${JSON.stringify(k)} must be a string`);
    }
    const timeoutSeconds = opts.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    if (!(timeoutSeconds > 0)) throw new SandboxInputError(`timeoutSeconds must be > 0, got ${timeoutSeconds}`);
    // Validate every seeded path before touching the disk.
    const files = Object.entries(opts.files ?? {}).map(([rel, content]) => [resolveRelative(SANDBOX_WORKDIR, rel), content] as const);

    const sandboxId = `sbx-${randomBytes(8).toString('hex')}`;
    const dir = path.join(this.rootDir, sandboxId);
    await mkdir(this.rootDir, { recursive: true });
    await mkdir(dir, { mode: 0o700 });
    try {
      await mkdir(path.join(dir, 'home', 'workspace'), { recursive: true });
      await mkdir(path.join(dir, 'tmp'));
      await mkdir(path.join(dir, 'procs'));
      const now = Date.now();
      const record: SandboxRecord = {
        sandboxId,
        provider: 'local',
        metadata: { ...opts.metadata },
        createdAt: now,
        timeoutSeconds,
        expiresAt: now + timeoutSeconds * 1000,
        isolation: this.ctx.isolation,
      };
      await writeJsonAtomic(path.join(dir, 'sandbox.json'), record);
      const sandbox = await this.open(sandboxId);
      for (const [p, content] of files) await sandbox.writeFile(p, content);
      return sandbox;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async connect(sandboxId: string): Promise<LocalSandbox> {
    return this.open(sandboxId);
  }

  async destroy(sandboxId: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(sandboxId)) return;
    const dir = path.join(this.rootDir, sandboxId);
    if ((await stat(dir).catch(() => undefined)) === undefined) return;
    const groups: number[] = [];
    for (const rec of await readProcRecords(dir)) {
      if (await ownsGroup(rec.pid, rec.startTime)) {
        signalGroup(rec.pid, 'SIGKILL');
        groups.push(rec.pid);
      }
    }
    // SIGKILL is not instant; let the processes go before their files do.
    const deadline = Date.now() + 5_000;
    for (const pgid of groups) {
      while ((await groupMembers(pgid)).length > 0 && Date.now() < deadline) await sleep(20);
    }
    await forceRemove(dir);
  }

  async list(filter?: { metadata?: Record<string, string> }): Promise<SandboxInfo[]> {
    const entries = await readdir(this.rootDir).catch(() => []);
    const want = Object.entries(filter?.metadata ?? {});
    const out: SandboxInfo[] = [];
    for (const name of entries) {
      if (!SANDBOX_ID_RE.test(name)) continue;
      const rec = await readSandboxRecord(path.join(this.rootDir, name));
      if (rec === undefined) continue;
      if (!want.every(([k, v]) => rec.metadata[k] === v)) continue;
      out.push({ sandboxId: rec.sandboxId, provider: 'local', metadata: rec.metadata, createdAt: rec.createdAt });
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  private async open(sandboxId: string): Promise<LocalSandbox> {
    if (!SANDBOX_ID_RE.test(sandboxId)) throw new SandboxNotFoundError(sandboxId);
    const dir = path.join(this.rootDir, sandboxId);
    const rec = await readSandboxRecord(dir);
    if (rec === undefined) throw new SandboxNotFoundError(sandboxId);
    // Real paths, so the fd checks in local-fs compare like with like.
    return new LocalSandbox(sandboxId, await realpath(dir), this.ctx);
  }

  private async checkMounts(): Promise<void> {
    for (const [key, p] of Object.entries(this.ctx.mounts)) {
      if ((await stat(p).catch(() => undefined)) === undefined) {
        throw new SandboxInputError(`mounts.${key} (${p}) does not exist`);
      }
    }
  }
}
