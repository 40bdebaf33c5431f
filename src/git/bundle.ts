import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitError, stderrTail } from './errors.js';
import { BASE_REF } from './fetch.js';
import type { GitHost } from './host.js';

/**
 * Bundles are how repositories travel: into a sandbox (the base), out of it (the change),
 * and through the artifact store. A bundle carries objects and refs only, never a config,
 * hooks or credentials, so neither side can hand the other anything that runs.
 *
 * The pitfall: a bundle made from a shallow clone claims a complete history but lacks the
 * parents of its shallow commits, and `git clone` of it fails. So whoever reads a base
 * bundle first writes the shallow list into the new repository, then fetches.
 */

/** A base bundle and the shallow list that must go with it. */
export interface BaseBundle {
  bundle: Buffer;
  shallow: readonly string[];
}

/** Makes the bundle of the base commit (`BASE_REF`) of a fetched repository. */
export async function createSeedBundle(git: GitHost, repoDir: string, file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await git.ok('bundling the repository', ['-C', repoDir, 'bundle', 'create', '--quiet', file, BASE_REF]);
}

export interface LoadOpts {
  /** Where to create a bare repository (must not exist or be empty). */
  dir: string;
  base: BaseBundle;
  /** A bundle of base..head with the change, when the task changed anything. */
  change?: Buffer;
  /** Scratch files go here. */
  tmpDir: string;
}

/**
 * Builds a bare repository from a base bundle and a change bundle, checking every object
 * of the change (it was made inside the sandbox, so it is untrusted input): refs end up as
 * `refs/ccflow/base` and `refs/ccflow/head`.
 */
export async function loadBundles(git: GitHost, o: LoadOpts): Promise<void> {
  await mkdir(o.dir, { recursive: true });
  if ((await readdir(o.dir)).length > 0) throw new GitError('invalid', `${o.dir} is not empty`);
  await git.ok('creating a repository', ['init', '--quiet', '--bare', o.dir]);
  await fetchBundles(git, o.dir, o);
}

/** Fetches base (shallow list first) and change bundles into an existing repository. */
export async function fetchBundles(git: GitHost, gitDir: string, o: Omit<LoadOpts, 'dir'>, refPrefix = 'refs/ccflow'): Promise<void> {
  await mkdir(o.tmpDir, { recursive: true });
  if (o.base.shallow.length > 0) {
    await writeFile(path.join(gitDir, 'shallow'), o.base.shallow.map((s) => `${s}\n`).join(''), { flag: 'a' });
  }
  const baseFile = path.join(o.tmpDir, 'base.bundle');
  await writeFile(baseFile, o.base.bundle);
  await fetchBundle(git, gitDir, baseFile, `${BASE_REF}:${refPrefix}/base`);
  if (o.change) {
    const changeFile = path.join(o.tmpDir, 'change.bundle');
    await writeFile(changeFile, o.change);
    const heads = await bundleHeads(git, gitDir, changeFile);
    const head = heads[0];
    if (!head) throw new GitError('broken', 'the change bundle holds no branch');
    await fetchBundle(git, gitDir, changeFile, `${head.ref}:${refPrefix}/head`);
  }
}

async function fetchBundle(git: GitHost, gitDir: string, file: string, refspec: string): Promise<void> {
  const r = await git.run([
    '-c',
    'transfer.fsckObjects=true',
    '--git-dir',
    gitDir,
    'fetch',
    '--quiet',
    '--no-tags',
    '--',
    file,
    `+${refspec}`,
  ]);
  if (r.exitCode !== 0) {
    const tail = stderrTail(r.stderr);
    throw new GitError('broken', `could not read the stored bundle (${path.basename(file)}): ${tail}`, { stderrTail: tail });
  }
}

/** The refs a bundle carries. */
export async function bundleHeads(git: GitHost, gitDir: string, file: string): Promise<Array<{ ref: string; commit: string }>> {
  const out = await git.ok('reading a bundle', ['--git-dir', gitDir, 'bundle', 'list-heads', file]);
  return out
    .toString('utf8')
    .split('\n')
    .map((l) => /^([0-9a-f]{40,64}) (\S+)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ commit: m[1]!, ref: m[2]! }));
}
