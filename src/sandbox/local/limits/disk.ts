/**
 * The disk limit of a local sandbox: everything it can write (HOME with the workspace, and
 * /tmp) lives in `<sandbox>/fs`.
 *
 * - `loop-ext4` (chosen when the worker may mount): `fs` is a sparse ext4 image of the limit's
 *   size, loop-mounted. The kernel enforces it (ENOSPC), a full disk hurts only that sandbox,
 *   and it costs ~70-120 ms per sandbox and ~4 MB on the host. Project quotas would be cheaper
 *   per sandbox but need kernel quota support, quota tools, and one shared pool.
 * - `watchdog`: `fs` is a plain directory whose size is sampled; a sandbox over its limit is
 *   stopped when next sampled. Not a hard bound, and said so at start.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rm, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { formatBytes, type LimitHit } from './types.js';

export type DiskMechanism = 'loop-ext4' | 'watchdog';

export interface DiskController {
  readonly mechanism: DiskMechanism;
  describe(): string;
  /** Makes `<sandboxDir>/fs`, owned by `owner` (uid:gid), holding at most `bytes`. */
  create(sandboxDir: string, bytes: number, owner?: { uid: number; gid: number }): Promise<void>;
  /** Makes `fs` usable again after a host restart (the loop mount is gone; the image is not). */
  attach(sandboxDir: string): Promise<void>;
  hits(sandboxDir: string, bytes: number): Promise<LimitHit[]>;
  /** Unmounts and deletes the image; the caller removes the rest of the directory. */
  destroy(sandboxDir: string): Promise<void>;
}

const IMAGE = 'disk.img';
const MOUNT = 'fs';
/** Below this much free space the disk counts as full: ext4 keeps a little it never hands out. */
const FULL_BELOW_BYTES = 1 << 20;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, _out, stderr) => {
      if (err === null) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
    });
  });
}

/** Whether `dir` is a mount point (by /proc/self/mountinfo, which needs no stat of the target). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return info.split('\n').some((line) => line.split(' ')[4] === escaped);
}

export class LoopExt4Disk implements DiskController {
  readonly mechanism = 'loop-ext4' as const;

  describe(): string {
    return 'a sparse ext4 image per sandbox, loop-mounted (enforced by the kernel)';
  }

  async create(sandboxDir: string, bytes: number, owner?: { uid: number; gid: number }): Promise<void> {
    const image = path.join(sandboxDir, IMAGE);
    const fh = await open(image, 'wx', 0o600);
    try {
      await fh.truncate(bytes);
    } finally {
      await fh.close();
    }
    // Lazy inode tables and journal (the image is sparse and zero already), no reserved
    // blocks (root's share would go to the agent, which is root outside its user namespace).
    const opts = ['lazy_itable_init=1', 'lazy_journal_init=1', 'nodiscard', ...(owner ? [`root_owner=${owner.uid}:${owner.gid}`] : [])];
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', opts.join(','), image]);
    await this.attach(sandboxDir);
  }

  async attach(sandboxDir: string): Promise<void> {
    const mountPoint = path.join(sandboxDir, MOUNT);
    await mkdir(mountPoint, { recursive: true });
    if (await isMountPoint(mountPoint)) return;
    // noinit_itable: nothing zeroes inode tables in the background (they read as zero anyway).
    await run('mount', ['-t', 'ext4', '-o', 'loop,noinit_itable,nosuid,nodev', path.join(sandboxDir, IMAGE), mountPoint]);
  }

  async hits(sandboxDir: string, bytes: number): Promise<LimitHit[]> {
    const s = await statfs(path.join(sandboxDir, MOUNT)).catch(() => undefined);
    if (s === undefined) return [];
    const free = s.bavail * s.bsize;
    if (free < FULL_BELOW_BYTES) return [{ limit: 'disk', count: 1, detail: `the sandbox's disk is full (limit ${formatBytes(bytes)})` }];
    if (s.ffree === 0) return [{ limit: 'disk', count: 1, detail: `the sandbox's disk has no inodes left (limit ${formatBytes(bytes)})` }];
    return [];
  }

  async destroy(sandboxDir: string): Promise<void> {
    const mountPoint = path.join(sandboxDir, MOUNT);
    if (await isMountPoint(mountPoint)) {
      // Lazy when busy (a process that outlived its jail's kill): the mount goes with its last user.
      await run('umount', [mountPoint]).catch(() => run('umount', ['-l', mountPoint]));
    }
    await rm(path.join(sandboxDir, IMAGE), { force: true });
  }

  /** Whether this host lets the worker make and mount an image (tried once, at start). */
  static async probe(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'mounting needs root (CAP_SYS_ADMIN)';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-disk-probe-'));
    const disk = new LoopExt4Disk();
    try {
      await disk.create(dir, 16 << 20);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await disk.destroy(dir).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/** Samples the size of `fs` (allocated blocks, so sparse files count as what they use). */
export class WatchdogDisk implements DiskController {
  readonly mechanism = 'watchdog' as const;

  describe(): string {
    return 'WATCHDOG: disk use is sampled, not enforced (loop mounts are not available here)';
  }

  async create(sandboxDir: string): Promise<void> {
    await mkdir(path.join(sandboxDir, MOUNT), { recursive: true });
  }

  async attach(sandboxDir: string): Promise<void> {
    await mkdir(path.join(sandboxDir, MOUNT), { recursive: true });
  }

  async hits(sandboxDir: string, bytes: number): Promise<LimitHit[]> {
    const used = await allocatedBytes(path.join(sandboxDir, MOUNT), bytes);
    return used > bytes
      ? [{ limit: 'disk', count: 1, detail: `the sandbox wrote ${formatBytes(used)}, over its disk limit of ${formatBytes(bytes)}` }]
      : [];
  }

  async destroy(): Promise<void> {}
}

/** Sum of allocated bytes under `dir`, stopping early once past `stopAbove`. */
async function allocatedBytes(dir: string, stopAbove: number): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0 && total <= stopAbove) {
    const d = stack.pop() as string;
    for (const name of await readdir(d).catch(() => [])) {
      const p = path.join(d, name);
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      total += st.blocks * 512;
      if (st.isDirectory()) stack.push(p);
    }
  }
  return total;
}
