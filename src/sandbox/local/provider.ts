/**
 * The local sandbox provider: one directory per sandbox on this host, with every process
 * jailed by bubblewrap (or, when explicitly opted in, run unisolated).
 *
 * Layout of `<rootDir>/<sandboxId>/`:
 *   sandbox.json   id, metadata, createdAt, timeout, network, limits (see SandboxRecord)
 *   fs/            the sandbox's disk (a loop-mounted image, or a directory):
 *     home/        bound at /home/user (HOME); the workspace is home/workspace
 *     tmp/         bound at /tmp (private to the sandbox, visible to the provider)
 *   sockets/       the worker's proxies for this sandbox, bound read-only at /run/ccflow
 *   procs/<pid>.json  every process group started, so destroy() can kill them after a
 *                  worker restart; procs/<id>.status is bwrap's status for it
 * (Sandboxes made before jails had a network of their own keep home/ and tmp/ at the top.)
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { SandboxInputError, SandboxNotFoundError } from '../errors.js';
import { SANDBOX_WORKDIR } from '../layout.js';
import { resolveRelative } from '../paths.js';
import type { EgressPolicy, SandboxCreateOpts, SandboxInfo, SandboxProvider } from '../types.js';
import { checkBubblewrap } from './bwrap.js';
import { NoLimits } from './limits/detect.js';
import type { DiskController } from './limits/disk.js';
import { DEFAULT_LIMITS, type LimitController } from './limits/types.js';
import type { LocalNetworkHooks } from './network.js';
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
  /** How memory, processes and CPU are limited (detectLimits); not at all when absent. */
  limits?: LimitController;
  /** How the disk is limited (a loop-mounted image, or a watchdog); a plain directory when absent. */
  disk?: DiskController;
  /** Limits of sandboxes that ask for none. @default 4 GiB, 512 processes, 10 GiB disk */
  defaultLimits?: { memoryBytes: number; processes: number; diskBytes: number; cpus?: number };
  /**
   * The worker's proxies. Jails always get a network of their own; without hooks it has
   * nothing in it (tests of the provider alone).
   */
  network?: LocalNetworkHooks;
  /**
   * Host uids sandboxes run as under the rlimit mechanism (one per live sandbox).
   * @default { base: 200_000, count: 10_000 }
   */
  sandboxUids?: { base: number; count: number };
}

const DEFAULT_TIMEOUT_SECONDS = 3600;
export const DEFAULT_DISK_BYTES = 10 * 1024 ** 3;
function recordedPolicy(p: EgressPolicy): NonNullable<SandboxRecord['confined']>['network'] {
  return typeof p === 'string' ? p : { allow: [...p.allow] };
}

/** The task a sandbox serves when created outside a workflow (tests, tools). */
const NO_TASK = { workflowId: 'unknown', namespace: 'unknown' };

export class LocalSandboxProvider implements SandboxProvider {
  readonly name = 'local' as const;
  private readonly rootDir: string;
  private readonly ctx: ProviderContext;
  private readonly defaults: { memoryBytes: number; processes: number; diskBytes: number; cpus?: number };
  private readonly uids: { base: number; count: number };
  /** Sandboxes whose disk, limits and sockets this process has set up (after create or a restart). */
  private readonly prepared = new Map<string, Promise<void>>();

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
        resultServer: path.resolve(m.resultServer),
        relay: path.resolve(m.relay),
        approvalHook: path.resolve(m.approvalHook),
      },
      bwrap: () => checkBubblewrap(bwrapPath),
      limits: opts.limits ?? new NoLimits(),
      disk: opts.disk,
    };
    this.network = opts.network;
    this.defaults = {
      memoryBytes: DEFAULT_LIMITS.memoryBytes,
      processes: DEFAULT_LIMITS.processes,
      diskBytes: DEFAULT_DISK_BYTES,
      ...opts.defaultLimits,
    };
    this.uids = opts.sandboxUids ?? { base: 200_000, count: 10_000 };
  }

  private readonly network: LocalNetworkHooks | undefined;

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
    const limits = {
      memoryBytes: opts.limits?.memoryBytes ?? this.defaults.memoryBytes,
      processes: opts.limits?.processes ?? this.defaults.processes,
      cpuWeight: 100,
      ...((opts.limits?.cpus ?? this.defaults.cpus) !== undefined ? { cpus: opts.limits?.cpus ?? this.defaults.cpus } : {}),
      diskBytes: opts.limits?.diskBytes ?? this.defaults.diskBytes,
    };

    const sandboxId = `sbx-${randomBytes(8).toString('hex')}`;
    const dir = path.join(this.rootDir, sandboxId);
    await mkdir(this.rootDir, { recursive: true });
    await mkdir(dir, { mode: 0o700 });
    const now = Date.now();
    const uid = this.ctx.limits.mechanism === 'rlimit' ? await this.freeUid() : undefined;
    const record: SandboxRecord = {
      sandboxId,
      provider: 'local',
      metadata: { ...opts.metadata },
      createdAt: now,
      timeoutSeconds,
      expiresAt: now + timeoutSeconds * 1000,
      isolation: this.ctx.isolation,
      confined: {
        network: recordedPolicy(opts.network ?? 'model'),
        task: opts.task ?? NO_TASK,
        limits,
        disk: this.ctx.disk?.mechanism ?? 'watchdog',
        ...(uid === undefined ? {} : { uid }),
      },
    };
    try {
      const owner = uid === undefined ? undefined : { uid, gid: uid };
      if (this.ctx.disk !== undefined) await this.ctx.disk.create(dir, limits.diskBytes, owner);
      else await mkdir(path.join(dir, 'fs'));
      await mkdir(path.join(dir, 'fs', 'home', 'workspace'), { recursive: true });
      await mkdir(path.join(dir, 'fs', 'tmp'));
      // The agent's /tmp is sticky and world-writable, as /tmp is everywhere.
      await chmod(path.join(dir, 'fs', 'tmp'), 0o1777);
      await mkdir(path.join(dir, 'procs'));
      await mkdir(path.join(dir, 'sockets'), { mode: 0o755 });
      if (owner !== undefined) {
        // bwrap runs as the sandbox's uid: it must be able to reach what it binds.
        await chmod(dir, 0o711);
        for (const d of ['fs/home', 'fs/home/workspace', 'fs/tmp']) await chown(path.join(dir, d), owner.uid, owner.gid);
      }
      await writeJsonAtomic(path.join(dir, 'sandbox.json'), record);
      await this.prepare(sandboxId, dir, record);
      const sandbox = await this.open(sandboxId);
      for (const [p, content] of files) await sandbox.writeFile(p, content);
      return sandbox;
    } catch (err) {
      await this.teardown(sandboxId, dir, record).catch(() => undefined);
      throw err;
    }
  }

  async connect(sandboxId: string): Promise<LocalSandbox> {
    const sandbox = await this.open(sandboxId);
    const rec = await readSandboxRecord(sandbox.dir);
    // A restarted worker (or host) sets up again what lives in memory or in the kernel.
    if (rec !== undefined) await this.prepare(sandboxId, sandbox.dir, rec);
    return sandbox;
  }

  async destroy(sandboxId: string): Promise<void> {
    if (!SANDBOX_ID_RE.test(sandboxId)) return;
    const dir = path.join(this.rootDir, sandboxId);
    if ((await stat(dir).catch(() => undefined)) === undefined) return;
    const rec = await readSandboxRecord(dir);
    // Cut the model and the network first: nothing the sandbox still runs can use them.
    if (rec?.confined !== undefined) await this.network?.detach(sandboxId);
    const groups: number[] = [];
    for (const proc of await readProcRecords(dir)) {
      if (await ownsGroup(proc.pid, proc.startTime)) {
        signalGroup(proc.pid, 'SIGKILL');
        groups.push(proc.pid);
      }
    }
    // SIGKILL is not instant; let the processes go before their files do.
    const deadline = Date.now() + 5_000;
    for (const pgid of groups) {
      while ((await groupMembers(pgid)).length > 0 && Date.now() < deadline) await sleep(20);
    }
    await this.teardown(sandboxId, dir, rec);
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

  /** Disk mounted, limits set, sockets served: once per sandbox and process. */
  private prepare(sandboxId: string, dir: string, rec: SandboxRecord): Promise<void> {
    const c = rec.confined;
    if (c === undefined) return Promise.resolve();
    let p = this.prepared.get(sandboxId);
    if (p === undefined) {
      p = (async () => {
        if (c.disk === 'loop-ext4') await this.ctx.disk?.attach(dir);
        await this.ctx.limits.create(sandboxId, { ...c.limits }, c.uid === undefined ? {} : { uid: c.uid });
        if (this.ctx.isolation === 'bubblewrap') {
          await this.network?.attach({ sandboxId, socketsDir: path.join(dir, 'sockets'), policy: c.network as EgressPolicy, task: c.task });
        }
      })();
      p.catch(() => this.prepared.delete(sandboxId));
      this.prepared.set(sandboxId, p);
    }
    return p;
  }

  /** Removes whatever create() and prepare() made, in reverse. */
  private async teardown(sandboxId: string, dir: string, rec: SandboxRecord | undefined): Promise<void> {
    this.prepared.delete(sandboxId);
    if (rec?.confined !== undefined) {
      await this.network?.detach(sandboxId);
      await this.ctx.limits.destroy(sandboxId);
      if (rec.confined.disk === 'loop-ext4') await this.ctx.disk?.destroy(dir);
    }
    await forceRemove(dir);
  }

  /** The lowest host uid in the range that no live sandbox uses. */
  private async freeUid(): Promise<number> {
    const used = new Set<number>();
    for (const name of await readdir(this.rootDir).catch(() => [])) {
      if (!SANDBOX_ID_RE.test(name)) continue;
      const uid = (await readSandboxRecord(path.join(this.rootDir, name)))?.confined?.uid;
      if (uid !== undefined) used.add(uid);
    }
    for (let i = 0; i < this.uids.count; i++) if (!used.has(this.uids.base + i)) return this.uids.base + i;
    throw new SandboxInputError(`all ${this.uids.count} sandbox uids from ${this.uids.base} are in use`);
  }

  private async open(sandboxId: string): Promise<LocalSandbox> {
    if (!SANDBOX_ID_RE.test(sandboxId)) throw new SandboxNotFoundError(sandboxId);
    const dir = path.join(this.rootDir, sandboxId);
    const rec = await readSandboxRecord(dir);
    if (rec === undefined) throw new SandboxNotFoundError(sandboxId);
    // Real paths, so the fd checks in local-fs compare like with like.
    return new LocalSandbox(sandboxId, await realpath(dir), this.ctx, rec);
  }

  private async checkMounts(): Promise<void> {
    for (const [key, p] of Object.entries(this.ctx.mounts)) {
      if ((await stat(p).catch(() => undefined)) === undefined) {
        throw new SandboxInputError(`mounts.${key} (${p}) does not exist`);
      }
    }
  }
}
