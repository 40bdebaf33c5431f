/**
 * Bubblewrap (bwrap) helpers for the local provider: finding and probing the binary, and
 * building the argv that jails one process.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';

import { BubblewrapMissingError } from '../errors.js';
import { SANDBOX_HOME } from '../layout.js';

/** uid/gid the agent runs as inside the jail. */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

/** Host system directories bound read-only (or recreated as symlinks on merged-/usr hosts). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];
/** /etc entries that may be symlinks to files outside the bound system dirs (systemd-resolved). */
const ETC_LINKS = ['/etc/resolv.conf', '/etc/hosts', '/etc/localtime'];

export interface JailSpec {
  /** Host dir bound read-write at /home/user. */
  homeDir: string;
  /** Host dir bound read-write at /tmp (private to the sandbox). */
  tmpDir: string;
  /** Host path → inside path, bound read-only. */
  readOnly: Array<[host: string, inside: string]>;
  /** Working directory inside the jail. */
  cwd: string;
}

/**
 * bwrap options for the host's read-only system. Computed once: it lstat()s a few dirs and
 * walks /etc to find what must be masked.
 */
let systemArgsPromise: Promise<string[]> | undefined;
export function systemArgs(): Promise<string[]> {
  systemArgsPromise ??= computeSystemArgs();
  return systemArgsPromise;
}

async function computeSystemArgs(): Promise<string[]> {
  const args: string[] = [];
  const bound: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    const st = await lstat(dir).catch(() => undefined);
    if (st?.isSymbolicLink()) args.push('--symlink', await readlink(dir), dir);
    else if (st?.isDirectory()) {
      args.push('--ro-bind', dir, dir);
      bound.push(dir);
    }
  }
  const isBound = (p: string): boolean => bound.some((d) => p === d || p.startsWith(`${d}/`));
  for (const link of ETC_LINKS) {
    const real = await realpath(link).catch(() => undefined);
    if (real !== undefined && !isBound(real)) args.push('--ro-bind', real, real);
  }
  args.push(...(await etcMasks()));
  return args;
}

/**
 * With a user namespace, host root is mapped to the agent's uid, so the agent would *own*
 * every root-owned file in the read-only /etc bind — including /etc/shadow and private keys.
 * Mask everything in /etc that the host hides from other users.
 */
async function etcMasks(): Promise<string[]> {
  const args: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const p = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) continue;
      const st = await lstat(p).catch(() => undefined);
      if (st === undefined) continue;
      if (st.isDirectory()) {
        if ((st.mode & 0o005) !== 0o005) args.push('--tmpfs', p, '--remount-ro', p);
        else await walk(p);
      } else if ((st.mode & 0o004) === 0) {
        args.push('--ro-bind', '/dev/null', p);
      }
    }
  };
  await walk('/etc');
  return args;
}

/** Namespaces and identity; everything else is mounted on top of bwrap's empty root. */
function baseArgs(): string[] {
  return [
    '--unshare-user',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_GID),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    // The network is shared on purpose: the agent reaches a model server on the host's loopback.
    '--hostname',
    'ccflow',
    '--cap-drop',
    'ALL',
  ];
}

/**
 * The bwrap options (everything before `--`) for a jailed process. No `--die-with-parent`
 * (the process must outlive the worker) and no `--new-session` (the caller signals the whole
 * process group, which must include the jail's pid-1; spawning detached already gives a new
 * session without a controlling terminal).
 */
export async function jailArgs(spec: JailSpec): Promise<string[]> {
  const args = [...baseArgs(), ...(await systemArgs()), '--proc', '/proc', '--dev', '/dev'];
  args.push('--bind', spec.tmpDir, '/tmp', '--bind', spec.homeDir, SANDBOX_HOME);
  for (const [host, inside] of spec.readOnly) args.push('--ro-bind', host, inside);
  // bwrap's root is a tmpfs owned by the agent; make it read-only so HOME and /tmp are the
  // only writable places.
  args.push('--remount-ro', '/', '--chdir', spec.cwd);
  return args;
}

/** Resolves `bwrap` (or a path) to an absolute executable, or throws BubblewrapMissingError. */
async function resolveBwrap(bwrapPath: string): Promise<string> {
  if (bwrapPath.includes('/')) {
    const abs = path.resolve(bwrapPath);
    try {
      await access(abs, constants.X_OK);
    } catch {
      throw new BubblewrapMissingError(`${abs} does not exist or is not executable`);
    }
    return abs;
  }
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, bwrapPath);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new BubblewrapMissingError(`\`${bwrapPath}\` was not found on PATH`);
}

/** Starts a trivial jail with the same namespaces and system mounts the real ones use. */
async function probe(bwrapPath: string): Promise<string> {
  const abs = await resolveBwrap(bwrapPath);
  const args = [...baseArgs(), ...(await systemArgs()), '--proc', '/proc', '--dev', '/dev'];
  args.push('--', '/bin/sh', '-c', 'exit 0');
  await new Promise<void>((resolve, reject) => {
    execFile(abs, args, { env: {}, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err === null) resolve();
      else {
        const why = stderr.trim() || err.message;
        reject(new BubblewrapMissingError(`${abs} cannot start a sandbox on this host (${why})`));
      }
    });
  });
  return abs;
}

const probes = new Map<string, Promise<string>>();

/**
 * Resolves and probes bwrap once per path (the result, success or failure, is cached).
 * Returns the absolute path to run; throws BubblewrapMissingError.
 */
export function checkBubblewrap(bwrapPath = 'bwrap'): Promise<string> {
  let p = probes.get(bwrapPath);
  if (p === undefined) {
    p = probe(bwrapPath);
    // Avoid unhandled-rejection noise when nobody awaits the cached promise yet.
    p.catch(() => undefined);
    probes.set(bwrapPath, p);
  }
  return p;
}

/** Whether bwrap is installed and can start a jail here (for tests and `ccflow doctor`). */
export async function bwrapAvailable(bwrapPath = 'bwrap'): Promise<boolean> {
  try {
    await checkBubblewrap(bwrapPath);
    return true;
  } catch {
    return false;
  }
}
