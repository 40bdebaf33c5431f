import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fetchBundles, type BaseBundle } from './bundle.js';
import { GitError } from './errors.js';
import type { GitHost } from './host.js';

export interface MaterializeOpts {
  /** A new or empty directory; it becomes a git checkout. */
  dir: string;
  base: BaseBundle;
  /** The change bundle (base..head); absent when the task changed nothing. */
  change?: Buffer;
  /** The commit to check out (the task's head). */
  headCommit: string;
  /** The branch the checkout is on. */
  branch: string;
  /** Recorded as `origin`, so the user can fetch or push with their own credentials. */
  remoteUrl?: string;
}

/**
 * Materialises a task's final tree as a git checkout: the base history, the task's commits
 * on `branch`, and `refs/ccflow/base` marking where the task started (so
 * `git diff refs/ccflow/base` shows the whole change).
 */
export async function materialize(git: GitHost, o: MaterializeOpts): Promise<{ dir: string; headCommit: string }> {
  const dir = path.resolve(o.dir);
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new GitError('invalid', `${dir} is not empty; give a new or empty directory`);
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-checkout-'));
  try {
    await git.ok('creating the checkout', ['init', '--quiet', '-b', o.branch, dir]);
    await fetchBundles(git, path.join(dir, '.git'), { base: o.base, ...(o.change ? { change: o.change } : {}), tmpDir });
    await git.ok('setting the branch', ['-C', dir, 'update-ref', `refs/heads/${o.branch}`, o.headCommit]);
    await git.ok('checking out the files', ['-C', dir, 'reset', '--quiet', '--hard', o.headCommit]);
    if (o.change) await git.ok('tidying refs', ['-C', dir, 'update-ref', '-d', 'refs/ccflow/head']);
    if (o.remoteUrl) await git.ok('recording the origin', ['-C', dir, 'remote', 'add', 'origin', o.remoteUrl]);
    return { dir, headCommit: o.headCommit };
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
