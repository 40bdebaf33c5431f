import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../artifacts/types.js';
import type { FailureType } from '../domain/failures.js';
import { taskBranchName } from '../domain/git.js';
import {
  GitError,
  adoptWorkspace,
  captureChange,
  createSeedBundle,
  fetchRepo,
  loadBundles,
  lsRemote,
  pushCommit,
  seedWorkspace,
  type GitErrorCode,
  type GitHost,
  type WorkspaceLayout,
} from '../git/index.js';
import { SANDBOX_CCFLOW_DIR, SANDBOX_HOME, SANDBOX_WORKDIR } from '../sandbox/layout.js';
import type {
  CaptureChangesInput,
  CapturedChanges,
  ChangeSummary,
  PrepareRepoInput,
  PreparedRepo,
  PushChangesInput,
  PushRecord,
} from '../schemas/git.js';
import { applicationFailure } from './failures.js';
import { sandboxRunner } from './sandbox-tool.js';
import type { SandboxAccess } from './sandboxes.js';

/**
 * Working on a repository: fetch it on the worker host with the worker's credentials and check
 * it out in the sandbox (prepareRepo), record each turn's change as a commit and store it
 * (captureChanges), and push the head commit (pushChanges). The git work itself is in
 * src/git; these activities move bundles between it, the sandbox and the artifact store.
 */

/** How the worker runs git on its own host. */
export interface GitDeps {
  /** git with the worker's credentials. */
  host: GitHost;
  /** Scratch space for fetches and pushes on the worker host. */
  scratchDir: string;
}

/** Artifact names, under the task's workflow id. */
export const gitArtifacts = {
  /** Where the repository came from: url, ref, base commit, shallow list, branch. */
  repo: 'git/repo.json',
  /** The base commit (and the history fetched with it), shallow list in repo.json. */
  baseBundle: 'git/base.bundle',
  /** The latest turn's head and whole change; written last, so readers find the rest complete. */
  head: 'git/head.json',
  /** base..head: the task's commits. */
  changeBundle: 'git/change.bundle',
  /** The whole change as a binary patch (`ccflow diff`, `ccflow apply`). */
  changePatch: 'git/change.patch',
  turnPatch: (turn: number) => `git/turns/${turn}/change.patch`,
  turnSummary: (turn: number) => `git/turns/${turn}/changes.json`,
};

/** What git/repo.json holds. */
export interface RepoManifest {
  url: string;
  ref: string;
  refName?: string;
  baseCommit: string;
  shallow: string[];
  branch: string;
}

/** What git/head.json holds. */
export interface HeadManifest {
  headCommit: string;
  treeId: string;
  turn: number;
  branch: string;
  changes: ChangeSummary;
}

/** Patches and bundles bigger than this are not stored: the task fails with ChangeCaptureFailed. */
export const MAX_CHANGE_BYTES = 256 * 1024 * 1024;

const LAYOUT: WorkspaceLayout = { workspace: SANDBOX_WORKDIR, stateDir: SANDBOX_CCFLOW_DIR };
const UNKNOWN_TASK = 'unknown';

/** The failure a git error becomes; `failed` means different things per activity. */
const FAILURE_OF: Record<Exclude<GitErrorCode, 'failed'>, FailureType> = {
  auth: 'RepoUnavailable',
  'not-found': 'RepoUnavailable',
  forbidden: 'RepoUnavailable',
  invalid: 'RepoUnavailable',
  'ref-not-found': 'RefNotFound',
  'too-large': 'RepoTooLarge',
  network: 'GitRemoteError',
  rejected: 'PushRejected',
  conflict: 'ChangeCaptureFailed',
  'does-not-apply': 'ChangeCaptureFailed',
  broken: 'ChangeCaptureFailed',
};

async function asFailures<T>(whenFailed: FailureType, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GitError) {
      const type = err.code === 'failed' ? whenFailed : FAILURE_OF[err.code];
      throw applicationFailure(type, err.message, { details: err.stderrTail ? { stderrTail: err.stderrTail } : undefined });
    }
    throw err;
  }
}

/** Heartbeats while a long host-side git command runs (they carry cancellation back, too). */
async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 2_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export const createGitActivities = (deps: { sandboxes: SandboxAccess; artifacts: ArtifactStore; git: GitDeps; pollIntervalMs: number }) => {
  const { artifacts } = deps;
  const git = deps.git.host;
  const runner = async (ref: { provider: PrepareRepoInput['provider']; sandboxId: string }) => {
    const ctx = Context.current();
    return sandboxRunner(await deps.sandboxes.connect(ref.provider, ref.sandboxId), {
      prefix: `${SANDBOX_CCFLOW_DIR}/git/run`,
      pollMs: deps.pollIntervalMs,
      heartbeat: () => ctx.heartbeat(),
      sleep: (ms) => ctx.sleep(ms),
    });
  };
  const taskId = () => Context.current().info.workflowExecution?.workflowId ?? UNKNOWN_TASK;
  const readJson = async <T>(workflowId: string, name: string): Promise<T | undefined> => {
    const raw = await artifacts.get(workflowId, name);
    return raw === undefined ? undefined : (JSON.parse(raw.toString('utf8')) as T);
  };

  /**
   * Where the push branch is now on the remote: the lease of the first push. A branch that
   * exists somewhere other than where this task starts is refused before the agent runs: the
   * push would overwrite someone's work.
   */
  const recordLease = async (push: NonNullable<PrepareRepoInput['push']>, url: string, starts: readonly string[]) => {
    const remote = push.remote ?? url;
    const ref = `refs/heads/${push.branch}`;
    const listed = await lsRemote(git, remote, [ref], Context.current().cancellationSignal);
    const at = listed.refs.get(ref) ?? null;
    if (at !== null && !starts.includes(at)) {
      throw new GitError(
        'rejected',
        `push.branch "${push.branch}" already exists on ${remote} at ${at.slice(0, 12)}, which is not the commit this task starts from; ` +
          'push to a new branch, or start the task from that branch (repo.ref)',
      );
    }
    return at;
  };

  return {
    /**
     * Puts the task's repository into its sandbox: fetched on this host (the worker's
     * credentials never enter the sandbox: only a bundle does), or, for a task continuing
     * another, taken over from the restored workspace.
     */
    async prepareRepo(input: PrepareRepoInput): Promise<PreparedRepo | null> {
      const workflowId = taskId();
      const branch = taskBranchName(workflowId);
      if (input.fromWorkflowId !== undefined) return continueRepo(input, input.fromWorkflowId, workflowId, branch);
      const repo = input.repo;
      if (!repo) return null;
      return asFailures('GitRemoteError', () =>
        heartbeating(async () => {
          const scratch = await mkdtemp(path.join(deps.git.scratchDir, 'ccflow-fetch-'));
          try {
            const fetched = await fetchRepo(git, {
              url: repo.url,
              ref: repo.ref,
              depth: repo.depth,
              dir: path.join(scratch, 'repo.git'),
              signal: Context.current().cancellationSignal,
            });
            const pushLease = input.push ? await recordLease(input.push, repo.url, [fetched.baseCommit]) : undefined;
            const bundleFile = path.join(scratch, 'base.bundle');
            await createSeedBundle(git, fetched.dir, bundleFile);
            const bundle = await readFile(bundleFile);
            const manifest: RepoManifest = {
              url: repo.url,
              ref: fetched.ref,
              ...(fetched.refName !== undefined ? { refName: fetched.refName } : {}),
              baseCommit: fetched.baseCommit,
              shallow: fetched.shallow,
              branch,
            };
            await artifacts.put(workflowId, gitArtifacts.baseBundle, bundle);
            await artifacts.put(workflowId, gitArtifacts.repo, `${JSON.stringify(manifest, null, 2)}\n`);
            await seedWorkspace(await runner(input), {
              layout: LAYOUT,
              home: SANDBOX_HOME,
              bundle,
              shallow: fetched.shallow,
              baseCommit: fetched.baseCommit,
              branch,
              identity: input.identity,
            });
            Context.current().log.info('repository checked out', {
              url: repo.url,
              ref: fetched.ref,
              baseCommit: fetched.baseCommit,
              packBytes: fetched.packBytes,
            });
            return {
              url: repo.url,
              ref: fetched.ref,
              ...(fetched.refName !== undefined ? { refName: fetched.refName } : {}),
              baseCommit: fetched.baseCommit,
              branch,
              headCommit: fetched.baseCommit,
              ...(pushLease !== undefined ? { pushLease } : {}),
              packBytes: fetched.packBytes,
              treeBytes: fetched.treeBytes,
            };
          } finally {
            await rm(scratch, { recursive: true, force: true });
          }
        }),
      );
    },

    /**
     * Commits the workspace's change of this turn in the sandbox and stores it: this turn's
     * patch, the whole change as a patch and as a bundle, and a summary. Returns summaries
     * only (bounded): diffs never enter workflow history.
     */
    async captureChanges(input: CaptureChangesInput): Promise<CapturedChanges> {
      const workflowId = taskId();
      return asFailures('ChangeCaptureFailed', async () => {
        const r = await runner(input);
        const captured = await captureChange(r, {
          layout: LAYOUT,
          home: SANDBOX_HOME,
          parentCommit: input.parentCommit,
          baseCommit: input.baseCommit,
          branch: input.branch,
          identity: input.identity,
          message: input.message,
          date: Math.floor(Date.parse(input.date) / 1000),
        });
        const read = async (file: string, what: string): Promise<Buffer> => {
          const content = (await r.readFile(file)) ?? Buffer.alloc(0);
          if (content.length > MAX_CHANGE_BYTES) {
            throw new GitError(
              'broken',
              `the ${what} is ${content.length} bytes, over the ${MAX_CHANGE_BYTES}-byte limit: it cannot be stored`,
            );
          }
          return content;
        };
        const turnPatch = await read(captured.outputs.turnPatch, "turn's patch");
        const totalPatch = await read(captured.outputs.totalPatch, 'patch');
        await artifacts.put(workflowId, gitArtifacts.turnPatch(input.turn), turnPatch);
        await artifacts.put(
          workflowId,
          gitArtifacts.turnSummary(input.turn),
          `${JSON.stringify({ headCommit: captured.headCommit, committed: captured.committed, changes: captured.turn }, null, 2)}\n`,
        );
        await artifacts.put(workflowId, gitArtifacts.changePatch, totalPatch);
        if (captured.outputs.bundle)
          await artifacts.put(workflowId, gitArtifacts.changeBundle, await read(captured.outputs.bundle, 'change bundle'));
        const head: HeadManifest = {
          headCommit: captured.headCommit,
          treeId: captured.treeId,
          turn: input.turn,
          branch: input.branch,
          changes: captured.total,
        };
        await artifacts.put(workflowId, gitArtifacts.head, `${JSON.stringify(head, null, 2)}\n`);
        return { headCommit: captured.headCommit, committed: captured.committed, turn: captured.turn, total: captured.total };
      });
    },

    /**
     * Pushes a task's head commit from this host with the worker's credentials. The lease
     * makes it safe to retry: a push that already landed reports `up-to-date` and sends
     * nothing; a branch someone else moved is refused, not overwritten.
     */
    async pushChanges(input: PushChangesInput): Promise<PushRecord> {
      return asFailures('GitRemoteError', () =>
        heartbeating(async () => {
          const manifest = await readJson<RepoManifest>(input.workflowId, gitArtifacts.repo);
          const base = await artifacts.get(input.workflowId, gitArtifacts.baseBundle);
          const change = await artifacts.get(input.workflowId, gitArtifacts.changeBundle);
          if (!manifest || !base || !change) {
            throw new GitError(
              'broken',
              `task ${input.workflowId} has no stored change to push (${artifacts.location(input.workflowId)}/git)`,
            );
          }
          const scratch = await mkdtemp(path.join(deps.git.scratchDir, 'ccflow-push-'));
          try {
            const gitDir = path.join(scratch, 'repo.git');
            await loadBundles(git, {
              dir: gitDir,
              base: { bundle: base, shallow: manifest.shallow },
              change,
              tmpDir: path.join(scratch, 'tmp'),
            });
            const pushed = await pushCommit(git, {
              gitDir,
              remoteUrl: input.remote,
              branch: input.branch,
              commit: input.commit,
              lease: input.lease,
              signal: Context.current().cancellationSignal,
            });
            Context.current().log.info('pushed', { remote: input.remote, ref: pushed.ref, commit: input.commit, status: pushed.status });
            return { remote: input.remote, branch: input.branch, ref: pushed.ref, commit: pushed.commit, status: pushed.status };
          } finally {
            await rm(scratch, { recursive: true, force: true });
          }
        }),
      );
    },
  };

  /** A continued task: the repository came along in the restored workspace. */
  async function continueRepo(input: PrepareRepoInput, from: string, workflowId: string, branch: string): Promise<PreparedRepo | null> {
    const manifest = await readJson<RepoManifest>(from, gitArtifacts.repo);
    if (!manifest) {
      if (input.push)
        throw applicationFailure('InvalidTaskSpec', `push: task ${from} worked on no repository, so there is nothing to push`);
      return null;
    }
    const head = await readJson<HeadManifest>(from, gitArtifacts.head);
    const headCommit = head?.headCommit ?? manifest.baseCommit;
    return asFailures('GitRemoteError', async () => {
      // The continued task's artifacts are complete on their own: base, and the change so far.
      for (const name of [gitArtifacts.baseBundle, gitArtifacts.changeBundle, gitArtifacts.changePatch, gitArtifacts.head]) {
        const content = await artifacts.get(from, name);
        if (content !== undefined) await artifacts.put(workflowId, name, content);
      }
      await artifacts.put(workflowId, gitArtifacts.repo, `${JSON.stringify({ ...manifest, branch }, null, 2)}\n`);
      await adoptWorkspace(await runner(input), { layout: LAYOUT, home: SANDBOX_HOME, headCommit, branch, identity: input.identity });
      const pushLease = input.push
        ? await heartbeating(() => recordLease(input.push!, manifest.url, [manifest.baseCommit, headCommit]))
        : undefined;
      return {
        url: manifest.url,
        ref: manifest.ref,
        ...(manifest.refName !== undefined ? { refName: manifest.refName } : {}),
        baseCommit: manifest.baseCommit,
        branch,
        headCommit,
        ...(pushLease !== undefined ? { pushLease } : {}),
        ...(head ? { changes: head.changes } : {}),
      };
    });
  }
};
