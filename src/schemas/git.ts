import { z } from 'zod';
import {
  identityIssues,
  pushInputIssues,
  repoInputIssues,
  type ChangeSummary as ChangeSummaryType,
  type InputIssue,
} from '../domain/git.js';
import { SandboxRef } from './activities.js';

/**
 * Wire shapes of working on a git repository: the `repo` and `push` task fields, the
 * `changes` summary, and the git activities' inputs and outputs. Small by design: commits,
 * counts and bounded file lists cross workflow history, never a diff or a credential.
 */

const addIssues = (issues: InputIssue[], ctx: z.RefinementCtx) => {
  for (const issue of issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
};

export const CommitIdentity = z
  .strictObject({
    name: z.string().describe('Author and committer name.'),
    email: z.string().describe('Author and committer email.'),
  })
  .superRefine((v, ctx) => addIssues(identityIssues(v), ctx));
export type CommitIdentity = z.infer<typeof CommitIdentity>;

export const RepoSpec = z
  .strictObject({
    url: z.string().describe('https, ssh, git or file URL, scp-like user@host:path, or an absolute path on the worker.'),
    ref: z.string().optional().describe("Branch, tag, full ref or full commit id to start from; the remote's HEAD when absent."),
    depth: z.number().int().optional().describe('Commits of history to fetch (0: all of it). Default 1.'),
    author: CommitIdentity.optional().describe('Who the commits are by; "ccflow agent" when absent.'),
    message: z
      .string()
      .min(1)
      .max(10_000)
      .optional()
      .describe("Every turn's commit message; the prompt's first line and the workflow id when absent."),
  })
  .superRefine((v, ctx) => addIssues(repoInputIssues(v), ctx));
export type RepoSpec = z.infer<typeof RepoSpec>;

export const PushSpec = z
  .strictObject({
    branch: z.string().describe('Branch the head commit is pushed to after each turn with a valid result.'),
    remote: z.string().optional().describe("Where to push; the repository's URL when absent."),
  })
  .superRefine((v, ctx) => addIssues(pushInputIssues(v), ctx));
export type PushSpec = z.infer<typeof PushSpec>;

export const FileChange = z.object({
  path: z.string(),
  status: z.enum(['added', 'modified', 'deleted', 'renamed', 'copied', 'type-changed']),
  insertions: z.number().int(),
  deletions: z.number().int(),
  oldPath: z.string().optional().describe('The path before a rename or copy.'),
  binary: z.boolean().optional(),
});

export const ChangeSummary = z
  .object({
    baseCommit: z.string(),
    headCommit: z.string(),
    files: z.array(FileChange).describe('The first changed files (a bounded list).'),
    insertions: z.number().int(),
    deletions: z.number().int(),
    filesChanged: z.number().int().describe('Every changed file, listed or not.'),
    truncated: z.literal(true).optional().describe('More files changed than are listed.'),
  })
  .describe('What changed between two commits.') satisfies z.ZodType<ChangeSummaryType>;
export type ChangeSummary = z.infer<typeof ChangeSummary>;

/** Where a task's repository came from and where its commits go, as the task result says. */
export const RepoRecord = z.object({
  url: z.string(),
  /** What was asked for (`HEAD` when no ref was given). */
  ref: z.string(),
  /** The full ref it resolved to; absent for a commit id. */
  refName: z.string().optional(),
  baseCommit: z.string(),
  /** The branch the commits are on in the sandbox (and in `ccflow checkout`). */
  branch: z.string(),
});
export type RepoRecord = z.infer<typeof RepoRecord>;

export const PushRecord = z.object({
  remote: z.string(),
  branch: z.string(),
  ref: z.string(),
  commit: z.string(),
  /** `up-to-date`: the branch already pointed there (a retried push sends nothing). */
  status: z.enum(['created', 'updated', 'up-to-date']),
});
export type PushRecord = z.infer<typeof PushRecord>;

/** What the workflow keeps about the repository between turns (small: commit ids). */
export const RepoState = RepoRecord.extend({
  /** The commit the next turn starts from (the last turn's, or the base). */
  headCommit: z.string(),
  /** What the push branch must point at for the next push (null: it must not exist). */
  pushLease: z.string().nullable().optional(),
  /** The last push. */
  pushed: PushRecord.optional(),
  /** The whole change so far (base → head). */
  changes: ChangeSummary.optional(),
});
export type RepoState = z.infer<typeof RepoState>;

export const PrepareRepoInput = SandboxRef.extend({
  /** Fetch this repository and check it out in the (new) sandbox. */
  repo: RepoSpec.optional(),
  /** Or carry on from the repository of an earlier task whose session was restored here. */
  fromWorkflowId: z.string().optional(),
  identity: CommitIdentity,
  push: PushSpec.optional(),
});
export type PrepareRepoInput = z.infer<typeof PrepareRepoInput>;

export const PreparedRepo = RepoState.extend({
  /** Sizes of what was fetched (absent when carried on from an earlier task). */
  packBytes: z.number().int().optional(),
  treeBytes: z.number().int().optional(),
});
export type PreparedRepo = z.infer<typeof PreparedRepo>;

export const CaptureChangesInput = SandboxRef.extend({
  turn: z.number().int(),
  baseCommit: z.string(),
  parentCommit: z.string(),
  branch: z.string(),
  identity: CommitIdentity,
  message: z.string(),
  /** The commit's date (ISO 8601), chosen by the workflow so a retried capture makes the same commit. */
  date: z.string(),
});
export type CaptureChangesInput = z.infer<typeof CaptureChangesInput>;

export const CapturedChanges = z.object({
  headCommit: z.string(),
  /** Whether the turn changed anything (an unchanged turn makes no commit). */
  committed: z.boolean(),
  /** This turn's change. */
  turn: ChangeSummary,
  /** Everything since the base. */
  total: ChangeSummary,
});
export type CapturedChanges = z.infer<typeof CapturedChanges>;

export const PushChangesInput = z.object({
  /** The task whose stored bundles hold the commit. */
  workflowId: z.string(),
  remote: z.string(),
  branch: z.string(),
  commit: z.string(),
  lease: z.string().nullable(),
});
export type PushChangesInput = z.infer<typeof PushChangesInput>;
