/**
 * Maps paths inside a local sandbox to host paths, and does file I/O there without letting
 * the agent redirect the (root) worker elsewhere with symlinks it planted.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

import { SandboxInputError } from '../errors.js';
import { normalizeInside } from '../paths.js';
import { SANDBOX_HOME } from '../layout.js';

/** Inside roots the provider reads and writes: HOME (incl. the workspace) and the private /tmp. */
export interface AreaRoots {
  /** Host dir seen as /home/user. */
  home: string;
  /** Host dir seen as /tmp. */
  tmp: string;
}

export interface HostLocation {
  /** The mapped host path. */
  hostPath: string;
  /** Host dir of the area (home or tmp) the path lies in; the agent cannot leave it. */
  areaRoot: string;
}

function under(p: string, root: string): string | undefined {
  if (p === root) return '';
  return p.startsWith(`${root}/`) ? p.slice(root.length) : undefined;
}

/**
 * Maps a path inside the sandbox to the host. Only HOME and /tmp are reachable; `..` is
 * resolved first, so `/home/user/../../etc` is rejected as /etc.
 */
export function toHost(roots: AreaRoots, insidePath: string): HostLocation {
  const p = normalizeInside(insidePath);
  const inHome = under(p, SANDBOX_HOME);
  if (inHome !== undefined) return { hostPath: roots.home + inHome, areaRoot: roots.home };
  const inTmp = under(p, '/tmp');
  if (inTmp !== undefined) return { hostPath: roots.tmp + inTmp, areaRoot: roots.tmp };
  throw new SandboxInputError(`sandbox path ${JSON.stringify(insidePath)} is outside ${SANDBOX_HOME} and /tmp`);
}

/** Host path components of `hostPath` below `areaRoot` (rejects anything not below it). */
function componentsBelow(loc: HostLocation): string[] {
  const rest = under(loc.hostPath, loc.areaRoot);
  if (rest === undefined) throw new Error(`internal: ${loc.hostPath} not under ${loc.areaRoot}`);
  return rest.split('/').filter((c) => c !== '');
}

function symlinkError(loc: HostLocation): SandboxInputError {
  return new SandboxInputError(
    `sandbox path ${loc.hostPath.slice(loc.areaRoot.length) || '/'} goes through a symlink, which ` + `the provider does not follow`,
  );
}

/** `mkdir -p` that refuses to walk through symlinks (so it cannot create dirs elsewhere). */
export async function mkdirContained(loc: HostLocation): Promise<void> {
  let cur = loc.areaRoot;
  for (const c of componentsBelow(loc)) {
    cur = `${cur}/${c}`;
    let st = await lstat(cur).catch(() => undefined);
    if (st === undefined) {
      await mkdir(cur).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      st = await lstat(cur);
    }
    if (st.isSymbolicLink()) throw symlinkError(loc);
    if (!st.isDirectory()) {
      throw new SandboxInputError(`sandbox path ${cur.slice(loc.areaRoot.length)} is not a directory`);
    }
  }
}

/**
 * Opens a regular file in the sandbox. The last component is never followed (O_NOFOLLOW),
 * and afterwards the fd's real path is checked to be in the area, which also catches
 * symlinked parent dirs without a check-then-use race. O_NONBLOCK keeps a planted FIFO from
 * hanging the worker.
 */
export async function openContained(loc: HostLocation, flags: number): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(loc.hostPath, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkError(loc);
    throw err;
  }
  try {
    const real = await readlink(`/proc/self/fd/${fh.fd}`);
    if (under(real, loc.areaRoot) === undefined) throw symlinkError(loc);
    if (!(await fh.stat()).isFile()) {
      throw new SandboxInputError(`sandbox path ${loc.hostPath.slice(loc.areaRoot.length)} is not a regular file`);
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Reads a whole file; undefined when it does not exist. */
export async function readContained(loc: HostLocation): Promise<Buffer | undefined> {
  const fh = await openContained(loc, constants.O_RDONLY).catch(ignoreMissing);
  if (fh === undefined) return undefined;
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Reads up to `maxBytes` from `offset`; empty when the file is missing or has nothing new. */
export async function readContainedFrom(loc: HostLocation, offset: number, maxBytes: number): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new SandboxInputError(`bad read range: offset ${offset}, maxBytes ${maxBytes}`);
  }
  const fh = await openContained(loc, constants.O_RDONLY).catch(ignoreMissing);
  if (fh === undefined || maxBytes === 0) {
    await fh?.close();
    return Buffer.alloc(0);
  }
  try {
    // Size the buffer by what is there, not by what was asked for.
    const want = Math.min(maxBytes, Math.max(0, (await fh.stat()).size - offset));
    const buf = Buffer.alloc(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await fh.read(buf, filled, want - filled, offset + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buf.subarray(0, filled);
  } finally {
    await fh.close();
  }
}

/**
 * Opens a file for writing (creating parent dirs), truncated, in append mode (so stdout and
 * stderr may share one file). The caller owns the handle.
 */
export async function openForWrite(loc: HostLocation): Promise<FileHandle> {
  await mkdirContained({ hostPath: path.dirname(loc.hostPath), areaRoot: loc.areaRoot });
  // No O_TRUNC at open: truncate only once the fd is known to be inside the sandbox.
  const fh = await openContained(loc, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND);
  try {
    await fh.truncate(0);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export async function writeContained(loc: HostLocation, content: string | Buffer): Promise<void> {
  const fh = await openForWrite(loc);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}
