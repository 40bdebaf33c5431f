import { GitError } from './errors.js';
import { transportError, type GitHost } from './host.js';

/** What `git ls-remote --symref` said about some refs of a remote. */
export interface RemoteRefs {
  /** Full ref name → commit (or tag object) id. */
  refs: ReadonlyMap<string, string>;
  /** The branch the remote's HEAD points at, when it says. */
  headTarget?: string;
}

/** A ref resolved against the remote, ready to fetch. */
export interface ResolvedRef {
  /** What the task asked for (`HEAD` when it gave no ref). */
  requested: string;
  /** Full ref name (`refs/heads/main`), or undefined for a commit id. */
  refName?: string;
  /** What to pass to `git fetch`: the ref name, or the commit id. */
  fetchSpec: string;
}

const HEX_SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Lists the remote's HEAD and the refs matching `patterns` (git matches them against the
 * tail of each ref name, so callers filter exactly afterwards). Fails classified: a refused
 * credential is `auth` at once, before anything is fetched.
 */
export async function lsRemote(git: GitHost, url: string, patterns: readonly string[], signal?: AbortSignal): Promise<RemoteRefs> {
  await git.checkLocation(url);
  const r = await git.transport(`listing ${url}`, ['ls-remote', '--symref', '--', url, ...patterns], signal ? { signal } : {});
  if (r.exitCode !== 0) throw transportError(`listing the refs of ${url}`, url, r);
  return parseLsRemote(r.stdout.toString('utf8'));
}

export function parseLsRemote(text: string): RemoteRefs {
  const refs = new Map<string, string>();
  let headTarget: string | undefined;
  for (const line of text.split('\n')) {
    const symref = /^ref: (\S+)\tHEAD$/.exec(line);
    if (symref) {
      headTarget = symref[1];
      continue;
    }
    const m = /^([0-9a-f]{40,64})\t(\S+)$/.exec(line);
    if (m) refs.set(m[2]!, m[1]!);
  }
  return headTarget === undefined ? { refs } : { refs, headTarget };
}

/**
 * Finds `ref` on the remote the way `git fetch` would read it: a full commit id as is; else
 * a full ref name, then a tag, then a branch. No ref means the remote's HEAD. A ref that is
 * not there is an error that names it.
 */
export async function resolveRef(git: GitHost, url: string, ref: string | undefined, signal?: AbortSignal): Promise<ResolvedRef> {
  if (ref !== undefined && HEX_SHA_RE.test(ref)) {
    // Cannot be listed (only ref tips are); `git fetch` says whether the server has it.
    await git.checkLocation(url);
    return { requested: ref, fetchSpec: ref };
  }
  const wanted = ref ?? 'HEAD';
  const candidates = ref === undefined ? [] : [ref, `refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`];
  const listed = await lsRemote(git, url, ref === undefined ? ['HEAD'] : ['HEAD', ref], signal);
  if (ref === undefined) {
    const target = listed.headTarget;
    // ls-remote lists only what matched the patterns, so the target itself may be missing.
    if (target !== undefined && listed.refs.has('HEAD')) return { requested: 'HEAD', refName: target, fetchSpec: target };
    if (listed.refs.has('HEAD')) return { requested: 'HEAD', refName: 'HEAD', fetchSpec: 'HEAD' };
    throw new GitError('ref-not-found', `repository ${url} has no HEAD to start from (is it empty?); give repo.ref`);
  }
  for (const name of candidates) {
    if (name.startsWith('refs/') && listed.refs.has(name)) return { requested: wanted, refName: name, fetchSpec: name };
  }
  const short = /^[0-9a-f]{4,39}$/.test(ref) ? ' (an abbreviated commit id cannot be fetched: give all 40 hex digits)' : '';
  throw new GitError('ref-not-found', `ref "${ref}" was not found in ${url}: no branch or tag of that name${short}`);
}
