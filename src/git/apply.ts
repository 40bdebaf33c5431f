import { GitError, stderrTail } from './errors.js';
import type { GitHost } from './host.js';

export interface ApplyResult {
  /** Paths the patch touched. */
  files: string[];
}

/**
 * Applies a stored patch to a local checkout with a 3-way merge where plain application
 * fails (`git apply --3way`: it needs the patch's pre-image blobs, which any clone of the
 * task's repository has). The result is staged. Conflicts leave markers in the files and a
 * GitError `conflict` listing them; a patch that cannot apply at all changes nothing.
 */
export async function applyPatch(git: GitHost, o: { dir: string; patch: Buffer }): Promise<ApplyResult> {
  const top = await git.run(['-C', o.dir, 'rev-parse', '--show-toplevel']);
  if (top.exitCode !== 0) throw new GitError('invalid', `${o.dir} is not a git checkout (run ccflow checkout to make one)`);
  const root = top.stdout.toString('utf8').trim();
  if (o.patch.length === 0) return { files: [] };
  const files = (await git.ok('reading the patch', ['-C', root, 'apply', '--numstat', '-z', '-'], { input: o.patch }))
    .toString('utf8')
    .split('\0')
    .map((t) => /^(?:-|\d+)\t(?:-|\d+)\t(.+)$/s.exec(t)?.[1] ?? (t.includes('\t') || t === '' ? undefined : t))
    .filter((p): p is string => p !== undefined);
  const r = await git.run(['-C', root, 'apply', '--3way', '--whitespace=nowarn', '-'], { input: o.patch });
  if (r.exitCode === 0) return { files };
  const out = `${r.stdout.toString('utf8')}\n${r.stderr}`;
  const conflicts = [...out.matchAll(/^U (.+)$/gm)].map((m) => m[1]!);
  if (conflicts.length > 0) {
    throw new GitError(
      'conflict',
      `the change conflicts with ${root} in ${conflicts.length} file${conflicts.length === 1 ? '' : 's'}: ${conflicts.join(', ')}. ` +
        'The rest is applied and staged; resolve the conflict markers in those files, then `git add` them.',
      { paths: conflicts, stderrTail: stderrTail(r.stderr) },
    );
  }
  const dirty = [...out.matchAll(/^error: (.+): does not match index$/gm)].map((m) => m[1]!);
  if (dirty.length > 0) {
    throw new GitError(
      'does-not-apply',
      `${root} has uncommitted changes to ${dirty.join(', ')}; commit or stash them, then apply again. Nothing was changed.`,
      {
        paths: dirty,
      },
    );
  }
  const tail = stderrTail(r.stderr);
  throw new GitError(
    'does-not-apply',
    `the change does not apply to ${root}, and a 3-way merge was not possible (the checkout lacks the task's base files). ` +
      `Nothing was changed. Check out the task's base commit, or use ccflow checkout. git said: ${tail}`,
    { stderrTail: tail },
  );
}
