/**
 * Checks of paths given to a sandbox, the same for every provider: absolute paths inside the
 * sandbox, and workspace-relative paths of seeded files that must not escape the workspace.
 */
import path from 'node:path';

import { SandboxInputError } from './errors.js';

/** Normalises an absolute inside path; rejects relative paths, NUL bytes and non-strings. */
export function normalizeInside(p: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.includes('\0')) {
    throw new SandboxInputError(`sandbox path must be an absolute path, got ${JSON.stringify(p)}`);
  }
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * Maps a path relative to `base` (e.g. a seeded workspace file) to an absolute inside path,
 * rejecting absolute paths and anything that escapes `base`.
 */
export function resolveRelative(base: string, relPath: string): string {
  if (typeof relPath !== 'string' || relPath === '' || relPath.startsWith('/') || relPath.includes('\0')) {
    throw new SandboxInputError(`file path ${JSON.stringify(relPath)} must be a non-empty path relative to ${base}`);
  }
  const abs = path.posix.normalize(`${base}/${relPath}`);
  if (!abs.startsWith(`${base}/`)) {
    throw new SandboxInputError(`file path ${JSON.stringify(relPath)} escapes ${base}`);
  }
  return abs;
}
