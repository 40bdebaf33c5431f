/**
 * Finding this process's cgroups and writing cgroup files. Behind a small interface so the
 * cgroup v2 code, which cannot run on hosts whose controllers are bound to v1, is still tested
 * against a fake tree.
 */
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';

export interface CgroupFs {
  read(file: string): Promise<string | undefined>;
  /** Whether a file exists (some control files are write-only). */
  exists(file: string): Promise<boolean>;
  write(file: string, value: string): Promise<void>;
  /** Creates a group (one level; the parent must exist). Quiet when it exists. */
  mkdir(dir: string): Promise<void>;
  /** Removes an empty group. Quiet when it is gone. */
  rmdir(dir: string): Promise<void>;
}

export const realCgroupFs: CgroupFs = {
  read: (file) => readFile(file, 'utf8').catch(() => undefined),
  exists: (file) =>
    access(file).then(
      () => true,
      () => false,
    ),
  write: (file, value) => writeFile(file, value),
  mkdir: async (dir) => {
    await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  },
  rmdir: async (dir) => {
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  },
};

/** One line of /proc/self/cgroup: `id:controllers:path`. */
export interface ProcCgroup {
  id: string;
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroup[] {
  const out: ProcCgroup[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (m === null) continue;
    out.push({ id: m[1] ?? '', controllers: (m[2] ?? '').split(',').filter(Boolean), path: m[3] ?? '/' });
  }
  return out;
}

/** A cgroup mount from /proc/self/mountinfo. */
export interface CgroupMount {
  mountPoint: string;
  /** `cgroup2`, or `cgroup` (v1). */
  fsType: string;
  /** v1: the controllers this hierarchy carries (from the super options). */
  controllers: string[];
  /** The root of the hierarchy this mount shows (not `/` inside a cgroup namespace). */
  root: string;
}

/** mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype source superoptions`. */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const superOpts = (right[2] ?? '').split(',');
    out.push({
      root: unescapeMount(left[3] ?? '/'),
      mountPoint: unescapeMount(left[4] ?? ''),
      fsType,
      controllers: fsType === 'cgroup' ? superOpts.filter((o) => !['rw', 'ro'].includes(o) && !o.includes('=')) : [],
    });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The directory of this process's own group in a hierarchy: mount point + (own path relative
 * to the mount's root). Undefined when the group is not visible under that mount.
 */
export function ownGroupDir(mount: CgroupMount, ownPath: string): string | undefined {
  const root = mount.root === '/' ? '' : mount.root;
  if (root !== '' && ownPath !== root && !ownPath.startsWith(`${root}/`)) return undefined;
  const rel = ownPath.slice(root.length);
  return `${mount.mountPoint}${rel === '/' ? '' : rel}`;
}
