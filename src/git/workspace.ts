import { GitError, stderrTail } from './errors.js';
import { MAX_SUMMARY_FILES, MAX_TURN_SUMMARY_FILES } from '../domain/git.js';
import { parseDiffSummary, type ChangeSummary } from './changes.js';

/**
 * The git work that happens where the agent works (inside the sandbox): seeding the
 * workspace from a bundle, and recording a turn's change as a commit. It runs there, not on
 * the worker host, because the workspace's `.git` is the agent's to write: host git reading
 * an agent-written config (`core.fsmonitor`, hooks, filters) would run the agent's commands
 * outside the jail.
 *
 * Each step is one fixed shell script run once (a sandbox round trip costs far more than a
 * git command), with every value passed as a positional parameter, never spliced into text.
 */

/** Where a script runs: a sandbox, or the host in tests. Paths are as seen there. */
export interface WorkspaceRunner {
  /** Runs argv with exactly this environment and waits for it. */
  run(argv: string[], env: Record<string, string>): Promise<{ exitCode: number; stderr: string }>;
  readFile(path: string): Promise<Buffer | undefined>;
  writeFile(path: string, content: string | Buffer): Promise<void>;
}

export interface CommitIdentity {
  name: string;
  email: string;
}

// Options every scripted git call gets: nothing the agent configured runs (hooks, fsmonitor),
// and no background maintenance makes a capture slow.
const GIT_FN = `g() { git -C "$ws" -c core.hooksPath=/dev/null -c core.fsmonitor=false -c gc.auto=0 -c maintenance.auto=false -c safe.directory='*' "$@"; }`;

/**
 * $1 workspace  $2 bundle  $3 shallow list file  $4 branch  $5 base commit  $6 private index
 * $7 author name  $8 author email
 * Checks out the base commit on `branch` from a bundle of a possibly shallow repository: the
 * shallow list goes in first, or the fetch would look for parents the bundle does not carry.
 * Files already in the workspace (the task's own `files`) stay as they are, over the checkout,
 * and so count as part of the task's change.
 */
export const SEED_SCRIPT = [
  'set -eu',
  'ws=$1 bundle=$2 shallow=$3 branch=$4 base=$5 index=$6',
  GIT_FN,
  'mkdir -p "$ws"',
  'if [ -z "$(ls -A "$ws")" ]; then empty=1; else empty=0; fi',
  'git init -q -b "$branch" "$ws"',
  'gitdir=$(g rev-parse --absolute-git-dir)',
  'if [ -s "$shallow" ]; then cp "$shallow" "$gitdir/shallow"; fi',
  'g fetch -q --no-tags "$bundle" "+refs/heads/ccflow-base:refs/ccflow/base"',
  'g update-ref "refs/heads/$branch" "$base"',
  'if [ $empty = 1 ]; then g reset -q --hard "$base"; else',
  // checkout-index without -f leaves existing files alone (and exits 1 because of them).
  '  g read-tree "$base"; g checkout-index -a -q || :; g update-index -q --refresh >/dev/null || :',
  'fi',
  'g config user.name "$7"',
  'g config user.email "$8"',
  // The capture's private index starts as this checkout's, with its file stat data, so the
  // first capture only hashes files that changed.
  'mkdir -p "$(dirname "$index")"',
  'cp "$gitdir/index" "$index"',
  'printf "%s\\n" "$base" > "$index.parent"',
].join('\n');

/**
 * $1 workspace  $2 head commit  $3 branch  $4 author name  $5 author email
 * Takes over a workspace restored from an earlier task (its repository came along in the
 * saved workspace): the task's own branch starts at that task's head. Files are not touched.
 */
export const ADOPT_SCRIPT = [
  'set -eu',
  'ws=$1 head=$2 branch=$3',
  GIT_FN,
  'g rev-parse -q --verify "$head^{commit}" >/dev/null || { echo "commit $head of the earlier task is not in the restored workspace" >&2; exit 4; }',
  'g update-ref "refs/heads/$branch" "$head"',
  'g symbolic-ref HEAD "refs/heads/$branch"',
  'g config user.name "$4"',
  'g config user.email "$5"',
].join('\n');

/**
 * $1 workspace  $2 private index  $3 parent commit  $4 base commit  $5 branch
 * $6 message file  $7 output dir.  Identity comes in GIT_AUTHOR_* / GIT_COMMITTER_*.
 *
 * Stages the whole workspace (untracked files included, .gitignore respected) into a
 * private index, so whatever the agent did to the real index, HEAD or branches, the commit
 * is exactly "the workspace now", on top of the parent. An unchanged tree makes no commit.
 * Then it points `branch` and HEAD at the result, gives the agent a matching index, and
 * writes summaries, patches and a bundle of base..head for the host to collect.
 */
export const CAPTURE_SCRIPT = [
  'set -eu',
  'ws=$1 index=$2 parent=$3 base=$4 branch=$5 msg=$6 out=$7',
  GIT_FN,
  // One rev-parse for three answers: every git process costs a few ms, and a capture runs
  // after every turn.
  'ids=$(g rev-parse --absolute-git-dir "$parent^{commit}" "$parent^{tree}" 2>&1) || {',
  '  case $ids in *"not a git repository"*) echo "the workspace is no longer a git repository (was .git removed?)" >&2; exit 3;; esac',
  '  echo "commit $parent of the previous turn is missing from the workspace repository" >&2; exit 4; }',
  'set -- $ids',
  'gitdir=$1 ptree=$3',
  'export GIT_INDEX_FILE="$index"',
  // The private index is only a shortcut when it is the parent's; otherwise rebuild it.
  'if [ ! -f "$index" ] || [ "$(cat "$index.parent" 2>/dev/null)" != "$parent" ]; then g read-tree "$parent"; fi',
  'g add -A',
  'tree=$(g write-tree)',
  'if [ "$tree" = "$ptree" ]; then head=$parent; else head=$(g commit-tree "$tree" -p "$parent" -F "$msg"); fi',
  'g update-ref "refs/heads/$branch" "$head"',
  '[ "$(cat "$gitdir/HEAD")" = "ref: refs/heads/$branch" ] || g symbolic-ref HEAD "refs/heads/$branch"',
  'printf "%s\\n" "$head" > "$index.parent"',
  'cp "$index" "$gitdir/index"',
  'unset GIT_INDEX_FILE',
  'mkdir -p "$out"',
  'printf "%s\\n%s\\n" "$head" "$tree" > "$out/head"',
  'g diff-tree -r -z -M --raw --numstat "$parent" "$head" > "$out/turn.diff"',
  'g diff-tree -r -p -M --binary --full-index --no-textconv "$parent" "$head" > "$out/turn.patch"',
  // On the first turn the whole change is this turn's.
  'if [ "$parent" = "$base" ]; then cp "$out/turn.diff" "$out/total.diff"; cp "$out/turn.patch" "$out/total.patch"; else',
  '  g diff-tree -r -z -M --raw --numstat "$base" "$head" > "$out/total.diff"',
  '  g diff-tree -r -p -M --binary --full-index --no-textconv "$base" "$head" > "$out/total.patch"',
  'fi',
  'rm -f "$out/change.bundle"',
  'if [ "$head" != "$base" ]; then g bundle create -q "$out/change.bundle" "refs/heads/$branch" "^$base" 2>/dev/null; fi',
].join('\n');

/** Paths (where the runner runs) the scripts work with. */
export interface WorkspaceLayout {
  /** The agent's working tree. */
  workspace: string;
  /** ccflow's own directory beside it (not inside it, so `git add -A` never sees it). */
  stateDir: string;
}

const files = (l: WorkspaceLayout) => ({
  index: `${l.stateDir}/git/index`,
  bundle: `${l.stateDir}/git/seed.bundle`,
  shallow: `${l.stateDir}/git/seed.shallow`,
  message: `${l.stateDir}/git/message`,
  out: `${l.stateDir}/git/out`,
});

const toolEnv = (home: string): Record<string, string> => ({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: home,
  LC_ALL: 'C',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
});

export interface SeedOpts {
  layout: WorkspaceLayout;
  home: string;
  /** A bundle with `refs/heads/ccflow-base` (see createSeedBundle). */
  bundle: Buffer;
  /** Commits whose parents the bundle leaves out. */
  shallow: readonly string[];
  baseCommit: string;
  branch: string;
  identity: CommitIdentity;
}

/** Puts the repository into the (empty) workspace, checked out at the base on `branch`. */
export async function seedWorkspace(runner: WorkspaceRunner, o: SeedOpts): Promise<void> {
  const f = files(o.layout);
  await runner.writeFile(f.bundle, o.bundle);
  await runner.writeFile(f.shallow, o.shallow.map((s) => `${s}\n`).join(''));
  const r = await runner.run(
    [
      'sh',
      '-c',
      SEED_SCRIPT,
      'ccflow-seed',
      o.layout.workspace,
      f.bundle,
      f.shallow,
      o.branch,
      o.baseCommit,
      f.index,
      o.identity.name,
      o.identity.email,
    ],
    toolEnv(o.home),
  );
  if (r.exitCode !== 0) {
    const tail = stderrTail(r.stderr);
    throw new GitError('failed', `could not check the repository out in the workspace (exit ${r.exitCode}): ${tail}`, { stderrTail: tail });
  }
  // The bundle was only a vehicle; the repository holds its objects now.
  await runner.run(['rm', '-f', '--', f.bundle], toolEnv(o.home));
}

export interface CaptureOpts {
  layout: WorkspaceLayout;
  home: string;
  /** The previous turn's commit (the base for the first turn). */
  parentCommit: string;
  baseCommit: string;
  branch: string;
  identity: CommitIdentity;
  message: string;
  /**
   * The commit's date (seconds since the epoch). A retried capture with the same date, parent
   * and tree makes the very same commit.
   */
  date?: number;
  /** @default MAX_SUMMARY_FILES */
  maxSummaryFiles?: number;
  /** @default MAX_TURN_SUMMARY_FILES */
  maxTurnSummaryFiles?: number;
}

export interface CapturedChange {
  /** The new commit, or the parent when the turn changed nothing. */
  headCommit: string;
  treeId: string;
  committed: boolean;
  /** This turn's change (parent → head). */
  turn: ChangeSummary;
  /** Everything since the base (base → head). */
  total: ChangeSummary;
  /** Where the collected outputs are (where the runner runs). */
  outputs: { turnPatch: string; totalPatch: string; bundle?: string };
}

/** Commits the workspace's change of this turn and summarises it. */
export async function captureChange(runner: WorkspaceRunner, o: CaptureOpts): Promise<CapturedChange> {
  const f = files(o.layout);
  await runner.writeFile(f.message, o.message.endsWith('\n') ? o.message : `${o.message}\n`);
  const env = {
    ...toolEnv(o.home),
    GIT_AUTHOR_NAME: o.identity.name,
    GIT_AUTHOR_EMAIL: o.identity.email,
    GIT_COMMITTER_NAME: o.identity.name,
    GIT_COMMITTER_EMAIL: o.identity.email,
    ...(o.date !== undefined
      ? { GIT_AUTHOR_DATE: `@${Math.floor(o.date)} +0000`, GIT_COMMITTER_DATE: `@${Math.floor(o.date)} +0000` }
      : {}),
  };
  const r = await runner.run(
    ['sh', '-c', CAPTURE_SCRIPT, 'ccflow-capture', o.layout.workspace, f.index, o.parentCommit, o.baseCommit, o.branch, f.message, f.out],
    env,
  );
  if (r.exitCode !== 0) {
    const tail = stderrTail(r.stderr);
    const code = r.exitCode === 3 || r.exitCode === 4 ? 'broken' : 'failed';
    throw new GitError(code, `could not record the workspace's change (exit ${r.exitCode}): ${tail}`, { stderrTail: tail });
  }
  const head = (await runner.readFile(`${f.out}/head`))?.toString('utf8').trim().split('\n') ?? [];
  const [headCommit, treeId] = head;
  if (!headCommit || !treeId) throw new GitError('failed', 'recording the change left no commit id');
  const max = o.maxSummaryFiles ?? MAX_SUMMARY_FILES;
  const maxTurn = o.maxTurnSummaryFiles ?? MAX_TURN_SUMMARY_FILES;
  const turnDiff = (await runner.readFile(`${f.out}/turn.diff`)) ?? Buffer.alloc(0);
  const totalDiff = (await runner.readFile(`${f.out}/total.diff`)) ?? Buffer.alloc(0);
  return {
    headCommit,
    treeId,
    committed: headCommit !== o.parentCommit,
    turn: parseDiffSummary(turnDiff, { baseCommit: o.parentCommit, headCommit }, maxTurn),
    total: parseDiffSummary(totalDiff, { baseCommit: o.baseCommit, headCommit }, max),
    outputs: {
      turnPatch: `${f.out}/turn.patch`,
      totalPatch: `${f.out}/total.patch`,
      ...(headCommit !== o.baseCommit ? { bundle: `${f.out}/change.bundle` } : {}),
    },
  };
}

export interface AdoptOpts {
  layout: WorkspaceLayout;
  home: string;
  headCommit: string;
  branch: string;
  identity: CommitIdentity;
}

/** Points a restored workspace's repository at this task's branch (see ADOPT_SCRIPT). */
export async function adoptWorkspace(runner: WorkspaceRunner, o: AdoptOpts): Promise<void> {
  const r = await runner.run(
    ['sh', '-c', ADOPT_SCRIPT, 'ccflow-adopt', o.layout.workspace, o.headCommit, o.branch, o.identity.name, o.identity.email],
    toolEnv(o.home),
  );
  if (r.exitCode !== 0) {
    const tail = stderrTail(r.stderr);
    throw new GitError('broken', `the restored workspace's repository is not usable (exit ${r.exitCode}): ${tail}`, { stderrTail: tail });
  }
}
