import { MAX_SUMMARY_FILES, type ChangeSummary, type FileChange, type FileStatus } from '../domain/git.js';

export type { ChangeSummary, FileChange, FileStatus };

/**
 * The `changes` summary of a task or a turn: what changed between two commits, read from
 * `git diff-tree -r -z -M --raw --numstat`. Pure (no I/O), and bounded: it goes into
 * workflow history and results, so it keeps at most `maxFiles` entries and says how many
 * there were.
 */

/** Paths longer than this are cut in summaries (git allows 4096 bytes). */
const MAX_PATH_CHARS = 512;

const STATUS: Readonly<Record<string, FileStatus>> = {
  A: 'added',
  M: 'modified',
  D: 'deleted',
  R: 'renamed',
  C: 'copied',
  T: 'type-changed',
};

/** Parses raw + numstat output (`-z`) of one diff into a bounded summary. */
export function parseDiffSummary(
  output: string | Buffer,
  commits: { baseCommit: string; headCommit: string },
  maxFiles = MAX_SUMMARY_FILES,
): ChangeSummary {
  const tokens = (typeof output === 'string' ? output : output.toString('utf8')).split('\0');
  const raw: Array<{ status: FileStatus; path: string; oldPath?: string }> = [];
  const counts: Array<{ insertions: number; deletions: number; binary: boolean }> = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    if (t === '') {
      i += 1;
      continue;
    }
    if (t.startsWith(':')) {
      // ":<mode> <mode> <id> <id> <status><score>" NUL path [NUL new path]
      const letter = t.trim().split(' ').pop()!.charAt(0);
      const status = STATUS[letter] ?? 'modified';
      if (status === 'renamed' || status === 'copied') {
        raw.push({ status, oldPath: tokens[i + 1] ?? '', path: tokens[i + 2] ?? '' });
        i += 3;
      } else {
        raw.push({ status, path: tokens[i + 1] ?? '' });
        i += 2;
      }
      continue;
    }
    // "<added>\t<deleted>\t<path>" NUL, or for a rename "<added>\t<deleted>\t" NUL old NUL new NUL.
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(t);
    if (!m) {
      i += 1;
      continue;
    }
    const binary = m[1] === '-';
    counts.push({ insertions: binary ? 0 : Number(m[1]), deletions: binary ? 0 : Number(m[2]), binary });
    i += m[3] === '' ? 3 : 1;
  }
  const files: FileChange[] = [];
  let insertions = 0;
  let deletions = 0;
  raw.forEach((r, n) => {
    const c = counts[n] ?? { insertions: 0, deletions: 0, binary: false };
    insertions += c.insertions;
    deletions += c.deletions;
    if (files.length < maxFiles) {
      files.push({
        path: cut(r.path),
        status: r.status,
        insertions: c.insertions,
        deletions: c.deletions,
        ...(r.oldPath !== undefined ? { oldPath: cut(r.oldPath) } : {}),
        ...(c.binary ? { binary: true } : {}),
      });
    }
  });
  return {
    baseCommit: commits.baseCommit,
    headCommit: commits.headCommit,
    files,
    insertions,
    deletions,
    filesChanged: raw.length,
    ...(raw.length > files.length ? { truncated: true as const } : {}),
  };
}

function cut(p: string): string {
  return p.length > MAX_PATH_CHARS ? `${p.slice(0, MAX_PATH_CHARS - 1)}…` : p;
}
