import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GitError, stderrTail } from './errors.js';
import { transportError, type GitHost } from './host.js';
import { resolveRef } from './remote.js';

export interface FetchRepoOpts {
  url: string;
  /** Branch, tag, full ref or full commit id; the remote's HEAD when absent. */
  ref?: string | undefined;
  /**
   * Commits of history to fetch; 0 fetches all of it.
   * @default 1
   */
  depth?: number | undefined;
  /** Where to create the (bare) repository; must not exist yet or be empty. */
  dir: string;
  signal?: AbortSignal;
  /**
   * How often the growing pack is measured against the size limit.
   * @default 200 // ms
   */
  sizePollMs?: number;
}

export interface FetchedRepo {
  /** The bare repository holding the base commit (and `depth` commits of history). */
  dir: string;
  url: string;
  /** What was asked for (`HEAD` when nothing). */
  ref: string;
  /** The full ref it resolved to (`refs/heads/main`), absent for a commit id. */
  refName?: string;
  /** The commit the task starts from. */
  baseCommit: string;
  /** Commits whose parents were left out (empty for a full history). */
  shallow: string[];
  /** Size of the fetched pack(s). */
  packBytes: number;
  /** Sum of the sizes of the files at the base commit. */
  treeBytes: number;
}

/** A ref the task's work starts from, kept in the fetched repository for bundling. */
export const BASE_REF = 'refs/heads/ccflow-base';
const FETCHED_REF = 'refs/ccflow/fetched';

/**
 * Fetches `ref` of a repository into a new bare repository on the worker host, with the
 * worker's credentials: shallow by default, and stopped as soon as the pack grows past the
 * size limit (the download itself is the cost worth bounding). The checked-out size is
 * checked too, since a small pack can hold a huge tree.
 */
export async function fetchRepo(git: GitHost, opts: FetchRepoOpts): Promise<FetchedRepo> {
  const depth = opts.depth ?? 1;
  const resolved = await resolveRef(git, opts.url, opts.ref, opts.signal);
  await mkdir(opts.dir, { recursive: true });
  if ((await readdir(opts.dir)).length > 0) throw new GitError('invalid', `${opts.dir} is not empty`);
  await git.ok('creating a repository to fetch into', ['init', '--quiet', '--bare', opts.dir]);

  const abort = new AbortController();
  const onOuterAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let overBytes: number | undefined;
  const packDir = path.join(opts.dir, 'objects', 'pack');
  const poll = setInterval(() => {
    void dirBytes(packDir).then((n) => {
      if (n > git.maxBytes && overBytes === undefined) {
        overBytes = n;
        abort.abort();
      }
    });
  }, opts.sizePollMs ?? 200);
  let r;
  try {
    r = await git.transport(
      `fetching ${opts.url}`,
      [
        // Keep everything as one pack (no loose objects), so its size is what the poll sees.
        '-c',
        'fetch.unpackLimit=1',
        '-c',
        'transfer.unpackLimit=1',
        '-C',
        opts.dir,
        'fetch',
        '--quiet',
        '--no-tags',
        '--no-write-fetch-head',
        ...(depth > 0 ? [`--depth=${depth}`] : []),
        // Into a ref outside refs/heads: a tag fetches as a tag object, which no branch may hold.
        '--',
        opts.url,
        `+${resolved.fetchSpec}:${FETCHED_REF}`,
      ],
      { signal: abort.signal },
    );
  } finally {
    clearInterval(poll);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (overBytes !== undefined) throw tooLarge(opts, resolved.requested, `its download passed ${formatBytes(overBytes)}`, git.maxBytes);
  if (r.killed === 'aborted') throw new GitError('network', `fetching ${opts.url} was cancelled`);
  if (r.exitCode !== 0) {
    if (/couldn't find remote ref|not our ref|unadvertised object|no such remote ref|invalid refspec/i.test(r.stderr)) {
      throw new GitError('ref-not-found', `ref "${resolved.requested}" was not found in ${opts.url}`, { stderrTail: stderrTail(r.stderr) });
    }
    throw transportError(`fetching ${opts.url}`, opts.url, r);
  }

  const baseCommit = (await git.ok('reading the fetched commit', ['-C', opts.dir, 'rev-parse', '--verify', `${FETCHED_REF}^{commit}`]))
    .toString('utf8')
    .trim();
  await git.ok('recording the base commit', ['-C', opts.dir, 'update-ref', BASE_REF, baseCommit]);
  await git.ok('recording the base commit', ['-C', opts.dir, 'update-ref', '-d', FETCHED_REF]);
  const packBytes = await dirBytes(packDir);
  if (packBytes > git.maxBytes) throw tooLarge(opts, resolved.requested, `its pack is ${formatBytes(packBytes)}`, git.maxBytes);
  const treeBytes = await treeSize(git, opts.dir, baseCommit);
  if (treeBytes > git.maxBytes) throw tooLarge(opts, resolved.requested, `its files add up to ${formatBytes(treeBytes)}`, git.maxBytes);
  const shallow = await readFile(path.join(opts.dir, 'shallow'), 'utf8').then(
    (s) => s.split('\n').filter((l) => l !== ''),
    () => [],
  );
  return {
    dir: opts.dir,
    url: opts.url,
    ref: resolved.requested,
    ...(resolved.refName !== undefined ? { refName: resolved.refName } : {}),
    baseCommit,
    shallow,
    packBytes,
    treeBytes,
  };
}

/** Total size of the blobs in a commit's tree (what a checkout writes). */
export async function treeSize(git: GitHost, dir: string, commit: string): Promise<number> {
  const out = await git.ok('measuring the checkout', ['-C', dir, 'ls-tree', '-r', '-l', '-z', '--full-tree', commit], {
    maxOutputBytes: 512 * 1024 * 1024,
  });
  let total = 0;
  for (const entry of out.toString('utf8').split('\0')) {
    // "<mode> blob <id> <size>\t<path>"; submodules (commit) and trees have "-".
    const m = /^\d+ blob [0-9a-f]+ +(\d+)\t/.exec(entry);
    if (m) total += Number(m[1]);
  }
  return total;
}

function tooLarge(opts: FetchRepoOpts, ref: string, what: string, limit: number): GitError {
  return new GitError(
    'too-large',
    `repository ${opts.url} at ${ref} is too large: ${what}, over this worker's limit of ${formatBytes(limit)} ` +
      `(CCFLOW_GIT_MAX_BYTES). Fetch less history (repo.depth), or raise the limit on the worker.`,
  );
}

async function dirBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let total = 0;
  for (const n of names)
    total += await stat(path.join(dir, n)).then(
      (s) => s.size,
      () => 0,
    );
  return total;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
