import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { LocalArtifactStore } from '../artifacts/local.js';
import { GitError, applyPatch, createGitHost, materialize, type GitHost } from '../git/index.js';
import { ccflowHome } from '../home.js';
import type { ChangeSummary } from '../schemas/git.js';
import type { PipelineResult } from '../schemas/messages.js';
import { stepWorkflowId } from '../workflows/messages.js';
import { CcflowError } from './errors.js';
import { readProgress } from './progress.js';

/**
 * A task's change, read from its artifacts and handled with the git of this machine: the
 * patch (`diff`), a 3-way apply to a checkout, and a checkout of the final tree. Artifacts are
 * where the task's result says (on the worker's machine, or a directory shared with it).
 */

/** Thrown when a task's change is not stored, or does not apply. */
export class ChangesError extends CcflowError {
  override readonly name = 'ChangesError';
  constructor(
    message: string,
    /** `conflict`: applied with conflict markers in `paths`; `does-not-apply`: nothing changed. */
    readonly reason: 'missing' | 'conflict' | 'does-not-apply' | 'invalid' | 'failed',
    /** The files a conflict is in. */
    readonly paths: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface ChangesOpts {
  /** The task's artifacts directory, when it is not where the task's result says. */
  artifactsDir?: string;
}

export interface DiffOpts extends ChangesOpts {
  /** One turn's own change (1 = the task prompt); the whole change when absent. */
  turn?: number;
  /** A diffstat instead of the patch. */
  stat?: boolean;
}

export interface AppliedChange {
  dir: string;
  /** The files the change touched (now changed and staged in the checkout). */
  files: string[];
}

export interface CheckedOutChange {
  dir: string;
  branch: string;
  baseCommit: string;
  headCommit: string;
}

/** Where a task's artifacts are: from its result or failure, else this machine's artifact store. */
export async function locateArtifacts(client: Client, workflowId: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const event = await readProgress(client, workflowId).catch(() => undefined);
  if (event?.type === 'result' && typeof event.result.artifactsDir === 'string') return event.result.artifactsDir;
  if (event?.type === 'failure' && event.artifactsDir) return event.artifactsDir;
  const root = env.CCFLOW_ARTIFACT_DIR ?? path.join(ccflowHome(env), 'artifacts');
  return new LocalArtifactStore(root).location(workflowId);
}

/**
 * The task whose change a workflow id stands for: the task itself, or for a finished pipeline
 * the step its result names as the final change.
 */
async function changeTask(client: Client, workflowId: string): Promise<string> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe().catch(() => undefined);
  if (desc?.type !== 'pipeline') return workflowId;
  if (desc.status.name !== 'COMPLETED') {
    throw new ChangesError(`pipeline ${workflowId} has not finished: name one of its steps (${workflowId}.<step>)`, 'missing');
  }
  const result = (await handle.result()) as PipelineResult;
  if (!result.changesStep) throw new ChangesError(`pipeline ${workflowId} recorded no change to a repository`, 'missing');
  return stepWorkflowId(workflowId, result.changesStep);
}

/** The stored change of one task, in its artifacts directory. */
export class StoredChange {
  private constructor(
    readonly workflowId: string,
    readonly dir: string,
    private readonly git: GitHost,
  ) {}

  static async open(client: Client, workflowId: string, o: ChangesOpts = {}, env: NodeJS.ProcessEnv = process.env): Promise<StoredChange> {
    const task = o.artifactsDir ? workflowId : await changeTask(client, workflowId);
    const dir = o.artifactsDir ?? (await locateArtifacts(client, task, env));
    const found = await access(path.join(dir, 'git', 'repo.json')).then(
      () => true,
      () => false,
    );
    if (!found) {
      throw new ChangesError(
        `no stored change for ${task} in ${dir}: the task worked on no repository, has not finished a turn, or its artifacts are elsewhere (pass the artifacts directory)`,
        'missing',
      );
    }
    return new StoredChange(task, dir, createGitHost({ env }));
  }

  private file(...parts: string[]): string {
    return path.join(this.dir, 'git', ...parts);
  }

  private async json<T>(name: string): Promise<T | undefined> {
    const raw = await readFile(this.file(name), 'utf8').catch(() => undefined);
    return raw === undefined ? undefined : (JSON.parse(raw) as T);
  }

  /** The whole change so far, or undefined before the first turn was recorded. */
  async summary(): Promise<ChangeSummary | undefined> {
    return (await this.json<{ changes: ChangeSummary }>('head.json'))?.changes;
  }

  /** The patch (`git diff --binary` form) of the whole change or of one turn; '' when nothing changed. */
  async patch(turn?: number): Promise<Buffer> {
    const file = turn === undefined ? this.file('change.patch') : this.file('turns', String(turn), 'change.patch');
    const content = await readFile(file).catch(() => undefined);
    if (content !== undefined) return content;
    if (turn !== undefined) throw new ChangesError(`task ${this.workflowId} recorded no change for turn ${turn}`, 'missing');
    return Buffer.alloc(0);
  }

  /** `ccflow diff`: the patch, or its diffstat. */
  async diff(o: { turn?: number; stat?: boolean } = {}): Promise<string> {
    const patch = await this.patch(o.turn);
    if (!o.stat || patch.length === 0) return patch.toString('utf8');
    // git's own diffstat of the patch, with renames, deletions and mode changes summarised.
    return (await this.git.ok('summarising the patch', ['apply', '--stat', '--summary', '-'], { input: patch })).toString('utf8');
  }

  /** `ccflow apply`: applies the whole change to a checkout, 3-way. */
  async apply(dir: string): Promise<AppliedChange> {
    const target = path.resolve(dir);
    try {
      const applied = await applyPatch(this.git, { dir: target, patch: await this.patch() });
      return { dir: target, files: applied.files };
    } catch (err) {
      throw asChangesError(err);
    }
  }

  /** `ccflow checkout`: the final tree as a new checkout, with the task's commits on its branch. */
  async checkout(dir: string): Promise<CheckedOutChange> {
    const repo = await this.json<{ url: string; baseCommit: string; shallow: string[]; branch: string }>('repo.json');
    if (!repo) throw new ChangesError(`task ${this.workflowId} has no stored repository`, 'missing');
    const head = await this.json<{ headCommit: string; branch: string }>('head.json');
    const base = await readFile(this.file('base.bundle'));
    const changed = head !== undefined && head.headCommit !== repo.baseCommit;
    const change = changed ? await readFile(this.file('change.bundle')) : undefined;
    const headCommit = head?.headCommit ?? repo.baseCommit;
    try {
      const out = await materialize(this.git, {
        dir,
        base: { bundle: base, shallow: repo.shallow },
        ...(change ? { change } : {}),
        headCommit,
        branch: repo.branch,
        remoteUrl: repo.url,
      });
      return { dir: out.dir, branch: repo.branch, baseCommit: repo.baseCommit, headCommit };
    } catch (err) {
      throw asChangesError(err);
    }
  }
}

function asChangesError(err: unknown): unknown {
  if (!(err instanceof GitError)) return err;
  const reason =
    err.code === 'conflict' ? 'conflict' : err.code === 'does-not-apply' ? 'does-not-apply' : err.code === 'invalid' ? 'invalid' : 'failed';
  return new ChangesError(err.message, reason, err.paths);
}
