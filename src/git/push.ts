import { GitError, stderrTail } from './errors.js';
import { transportError, type GitHost } from './host.js';

export interface PushOpts {
  /** A repository holding `commit` (see loadBundles). */
  gitDir: string;
  remoteUrl: string;
  branch: string;
  commit: string;
  /**
   * What the branch must point at on the remote for the push to go ahead: the value
   * recorded before the task ran, or the commit an earlier push of this task left there.
   * `null`: the branch must not exist.
   */
  lease: string | null;
  signal?: AbortSignal;
}

export interface PushResult {
  remoteUrl: string;
  ref: string;
  commit: string;
  /** `up-to-date`: the branch already pointed at the commit (a retried push), nothing was sent. */
  status: 'created' | 'updated' | 'up-to-date';
}

/**
 * Pushes `commit` to `refs/heads/<branch>` with the worker's credentials, guarded by a lease:
 * the remote branch must still be where it was recorded, so a push never overwrites work
 * someone else pushed meanwhile. It is idempotent: a retry (or a replay that reruns it) finds
 * the branch already at `commit`, and git reports "up to date" without sending anything.
 */
export async function pushCommit(git: GitHost, o: PushOpts): Promise<PushResult> {
  await git.checkLocation(o.remoteUrl);
  const ref = `refs/heads/${o.branch}`;
  const r = await git.transport(
    `pushing to ${o.remoteUrl}`,
    [
      '--git-dir',
      o.gitDir,
      'push',
      '--porcelain',
      '--no-verify',
      `--force-with-lease=${ref}:${o.lease ?? ''}`,
      '--',
      o.remoteUrl,
      `${o.commit}:${ref}`,
    ],
    o.signal ? { signal: o.signal } : {},
  );
  const line = r.stdout
    .toString('utf8')
    .split('\n')
    .find((l) => l.includes(`:${ref}\t`));
  const flag = line?.charAt(0);
  if (r.exitCode === 0 && line !== undefined) {
    const status = flag === '=' ? 'up-to-date' : flag === '*' ? 'created' : 'updated';
    return { remoteUrl: o.remoteUrl, ref, commit: o.commit, status };
  }
  if (flag === '!') {
    const why = line!.split('\t')[2] ?? 'rejected';
    const moved = /stale info|fetch first|non-fast-forward/.test(why);
    throw new GitError(
      'rejected',
      moved
        ? `push to ${o.branch} on ${o.remoteUrl} was refused: the branch is no longer at ${o.lease ? o.lease.slice(0, 12) : '(absent)'}, ` +
            `where the task recorded it; someone else pushed to it. Nothing was overwritten: push to another branch, or merge by hand.`
        : `push to ${o.branch} on ${o.remoteUrl} was refused by the remote: ${why}`,
      { stderrTail: stderrTail(r.stderr) },
    );
  }
  throw transportError(`pushing to ${o.branch}`, o.remoteUrl, r);
}
