import path from 'node:path';
import { classifyRepoUrl } from '../domain/git.js';

/**
 * A repository location as a person gives it, as a TaskSpec `repo.url`: a URL (or scp-like
 * `user@host:path`) as it is; anything else is a local path, made absolute against `cwd`
 * (the worker reads it from its own working directory, which is rarely the caller's).
 */
export function resolveRepoLocation(raw: string, cwd: string = process.cwd()): { url: string; local: boolean } {
  const kind = classifyRepoUrl(raw);
  if ('kind' in kind && kind.kind !== 'path') return { url: raw, local: false };
  return { url: path.resolve(cwd, raw), local: true };
}
