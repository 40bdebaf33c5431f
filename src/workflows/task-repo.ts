import { patched, workflowInfo } from '@temporalio/workflow';
import { DEFAULT_COMMIT_IDENTITY, commitMessage } from '../domain/git.js';
import type { SandboxRef } from '../schemas/activities.js';
import type { CapturedChanges, PushRecord, RepoRecord } from '../schemas/git.js';
import type { TaskStatus } from '../schemas/messages.js';
import type { TaskSpec } from '../schemas/task-spec.js';
import type { SandboxActivities } from './activities.js';

/** Marks histories whose tasks may work on a repository (older ones never called these activities). */
export const GIT_PATCH = 'ccflow-git-repo';

/**
 * The task's repository across its turns: checked out in each new sandbox, one commit per turn
 * (each on the previous turn's), and pushed after each turn when the task asks. Its state is
 * in the task's status (commit ids and a bounded summary), so it is queryable and survives
 * continue-as-new.
 */
export class TaskRepo {
  constructor(
    private readonly spec: TaskSpec,
    private readonly status: TaskStatus,
  ) {}

  /** Whether this task may work on a repository: it names one, or continues a task that might have. */
  private get relevant(): boolean {
    return (this.spec.repo !== undefined || this.spec.continueFrom !== undefined) && patched(GIT_PATCH);
  }

  private get identity() {
    return this.spec.repo?.author ?? { ...DEFAULT_COMMIT_IDENTITY };
  }

  /** After a new sandbox is made for the task's first turn (and an earlier session restored in it). */
  async prepare(acts: SandboxActivities, ref: SandboxRef): Promise<void> {
    if (!this.relevant) return;
    const previous = this.status.phase;
    this.status.phase = 'checking-out';
    const prepared = await acts.prepareRepo({
      ...ref,
      ...(this.spec.repo ? { repo: this.spec.repo } : {}),
      ...(this.spec.continueFrom ? { fromWorkflowId: this.spec.continueFrom.workflowId } : {}),
      identity: this.identity,
      ...(this.spec.push ? { push: this.spec.push } : {}),
    });
    this.status.phase = previous;
    if (!prepared) return;
    const { packBytes: _p, treeBytes: _t, ...state } = prepared;
    this.status.repo = state;
  }

  /** Commits the turn's change (after a valid result); undefined when the task has no repository. */
  async capture(acts: SandboxActivities, ref: SandboxRef, turn: number, prompt: string): Promise<CapturedChanges | undefined> {
    const repo = this.status.repo;
    if (!repo) return undefined;
    const previous = this.status.phase;
    this.status.phase = 'committing';
    const out = await acts.captureChanges({
      ...ref,
      turn,
      baseCommit: repo.baseCommit,
      parentCommit: repo.headCommit,
      branch: repo.branch,
      identity: this.identity,
      message: commitMessage({ prompt, workflowId: workflowInfo().workflowId, turn, message: this.spec.repo?.message }),
      date: new Date().toISOString(),
    });
    this.status.phase = previous;
    repo.headCommit = out.headCommit;
    repo.changes = out.total;
    return out;
  }

  /**
   * Pushes the head commit when the task asks and there is something new to push. The lease
   * is where the branch was before this task, or where its last push left it.
   */
  async push(acts: SandboxActivities): Promise<PushRecord | undefined> {
    const repo = this.status.repo;
    const push = this.spec.push;
    if (!repo || !push || repo.headCommit === repo.baseCommit || repo.pushed?.commit === repo.headCommit) return undefined;
    const previous = this.status.phase;
    this.status.phase = 'pushing';
    const pushed = await acts.pushChanges({
      workflowId: workflowInfo().workflowId,
      remote: push.remote ?? repo.url,
      branch: push.branch,
      commit: repo.headCommit,
      lease: repo.pushed?.commit ?? repo.pushLease ?? null,
    });
    this.status.phase = previous;
    repo.pushed = pushed;
    return pushed;
  }

  /** What the task result says about the repository. */
  result(): { repo?: RepoRecord; changes?: CapturedChanges['total']; push?: PushRecord } {
    const repo = this.status.repo;
    if (!repo) return {};
    return {
      repo: {
        url: repo.url,
        ref: repo.ref,
        ...(repo.refName !== undefined ? { refName: repo.refName } : {}),
        baseCommit: repo.baseCommit,
        branch: repo.branch,
      },
      ...(repo.changes ? { changes: repo.changes } : {}),
      ...(repo.pushed ? { push: repo.pushed } : {}),
    };
  }
}
