/**
 * Git names and checks every layer agrees on, as pure functions (no Node, no zod): the checks
 * of the `repo` and `push` task input, which the TaskSpec schema calls, and the task branch,
 * commit identity and commit message the workflow picks. Each returns one issue per
 * problem, with the field it is about, so an invalid spec names the field.
 *
 * Why so strict: these strings reach git on the worker host. git itself runs commands for
 * some URL forms (`ext::sh -c ...`), reads option-looking arguments as options
 * (`--upload-pack=...`), and would send credentials in a URL to wherever it points. The
 * worker passes everything as argv (no shell), so shell metacharacters are not an injection
 * there; they are refused anyway because no sane ref or URL needs them and they would be
 * one quoting mistake away from one.
 */

export interface InputIssue {
  /** Path below the checked object, e.g. `['ref']`. */
  path: Array<string | number>;
  message: string;
}

/** What a task gives as `repo`. */
export interface RepoInput {
  url: string;
  ref?: string | undefined;
  depth?: number | undefined;
}

/** What a task gives as `push`. */
export interface PushInput {
  branch: string;
  remote?: string | undefined;
}

export const MAX_URL_LENGTH = 2048;
export const MAX_REF_LENGTH = 256;
/** Deeper than this is "the whole history": say `depth: 0`. */
export const MAX_DEPTH = 1_000_000;

/** Kinds of repository location a task may name. */
export type RepoUrlKind = 'https' | 'http' | 'ssh' | 'git' | 'file' | 'scp' | 'path';

const SCHEMES: Readonly<Record<string, RepoUrlKind>> = {
  'https:': 'https',
  'http:': 'http',
  'ssh:': 'ssh',
  'git:': 'git',
  'file:': 'file',
};

// `user@host:path` (git reads it as ssh). The user part may not hold a password.
const SCP_RE = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9][A-Za-z0-9.-]*):(?!\/\/)(?!-)(.+)$/;
// Hosts in URLs: names, IPv4, or a bracketed IPv6 literal. Never starting with "-".
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;
// Shell metacharacters, git's own forbidden ref characters, whitespace and control codes.
// eslint-disable-next-line no-control-regex -- control characters are exactly what these refuse
const REF_FORBIDDEN_RE = /[\s\x00-\x1f\x7f~^:?*[\\$`;&|<>()'"!{}]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what these refuse
const URL_FORBIDDEN_RE = /[\s\x00-\x1f\x7f$`;&|<>()'"!{}\\]/;
const HEX_SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The kind of a repository location, or an explanation of why it is not one ccflow accepts.
 * Accepted: `https://`, `http://`, `ssh://`, `git://`, `file://` URLs, scp-like
 * `user@host:path`, and absolute local paths.
 */
export function classifyRepoUrl(url: string): { kind: RepoUrlKind } | { error: string } {
  if (url.length === 0) return { error: 'must not be empty' };
  if (url.length > MAX_URL_LENGTH) return { error: `must be at most ${MAX_URL_LENGTH} characters` };
  if (url.startsWith('-')) return { error: 'must not start with "-" (it would read as a git option)' };
  if (URL_FORBIDDEN_RE.test(url)) return { error: 'must not contain whitespace, control characters or shell metacharacters' };
  // git's `<transport>::<address>` form runs remote helpers, `ext::` any command.
  if (/^[A-Za-z0-9][A-Za-z0-9+.-]*::/.test(url)) return { error: 'remote-helper URLs ("<transport>::<address>") are not supported' };
  if (url.startsWith('/')) return url.split('/').includes('..') ? { error: 'must not contain ".." segments' } : { kind: 'path' };

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (scheme) {
    const kind = SCHEMES[`${scheme[1]!.toLowerCase()}:`];
    if (!kind) return { error: `unsupported URL scheme "${scheme[1]}:" (use https, ssh, git, file, or a local path)` };
    const rest = url.slice(scheme[0].length);
    if (kind === 'file') {
      if (!rest.startsWith('/')) return { error: 'file URLs must name an absolute path (file:///path/to/repo)' };
      return rest.split('/').includes('..') ? { error: 'must not contain ".." segments' } : { kind };
    }
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const at = authority.lastIndexOf('@');
    const userinfo = at < 0 ? '' : authority.slice(0, at);
    const hostPort = at < 0 ? authority : authority.slice(at + 1);
    if (userinfo.includes(':')) {
      return { error: 'must not carry a password: the worker authenticates with its own git credentials' };
    }
    const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d+$/, '');
    if (!HOST_RE.test(host)) return { error: `"${host}" is not a valid host name` };
    if (slash < 0 || rest.slice(slash + 1).length === 0) return { error: 'must name a repository path after the host' };
    return { kind };
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url) && !SCP_RE.test(url)) {
    return { error: 'unsupported URL (use https, ssh, git, file, scp-like user@host:path, or an absolute local path)' };
  }
  const scp = SCP_RE.exec(url);
  if (scp) return { kind: 'scp' };
  return { error: 'must be a URL (https, ssh, git, file), scp-like user@host:path, or an absolute local path' };
}

/**
 * Why `ref` is not a usable git revision name, or undefined when it is. Follows
 * `git check-ref-format`, and also refuses shell metacharacters and option-looking values.
 * Full commit ids (40 or 64 hex digits) pass.
 */
export function refProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'must not be empty';
  if (ref.length > MAX_REF_LENGTH) return `must be at most ${MAX_REF_LENGTH} characters`;
  if (HEX_SHA_RE.test(ref)) return undefined;
  if (ref.startsWith('-')) return 'must not start with "-" (it would read as a git option)';
  if (REF_FORBIDDEN_RE.test(ref)) return 'must not contain whitespace, control characters, shell metacharacters or any of ~^:?*[\\';
  if (ref === '@') return 'must not be "@"';
  if (ref.includes('@{')) return 'must not contain "@{"';
  if (ref.includes('..')) return 'must not contain ".."';
  if (ref.endsWith('/') || ref.endsWith('.')) return 'must not end with "/" or "."';
  for (const part of ref.split('/')) {
    if (part === '') return 'must not contain empty path components ("//" or a leading "/")';
    if (part.startsWith('.')) return 'no path component may start with "."';
    if (part.endsWith('.lock')) return 'no path component may end with ".lock"';
  }
  return undefined;
}

/** Issues of a `repo` input; empty when it is fine. */
export function repoInputIssues(repo: RepoInput): InputIssue[] {
  const issues: InputIssue[] = [];
  const url = classifyRepoUrl(repo.url);
  if ('error' in url) issues.push({ path: ['url'], message: url.error });
  if (repo.ref !== undefined) {
    const problem = refProblem(repo.ref);
    if (problem) issues.push({ path: ['ref'], message: problem });
  }
  if (repo.depth !== undefined && (!Number.isInteger(repo.depth) || repo.depth < 0 || repo.depth > MAX_DEPTH)) {
    issues.push({ path: ['depth'], message: `must be an integer from 0 (whole history) to ${MAX_DEPTH}` });
  }
  return issues;
}

/** Issues of a `push` input; empty when it is fine. */
export function pushInputIssues(push: PushInput): InputIssue[] {
  const issues: InputIssue[] = [];
  const branch = push.branch;
  const problem = refProblem(branch);
  if (problem) issues.push({ path: ['branch'], message: problem });
  else if (HEX_SHA_RE.test(branch)) issues.push({ path: ['branch'], message: 'must be a branch name, not a commit id' });
  else if (branch.startsWith('refs/'))
    issues.push({ path: ['branch'], message: 'must be a branch name like "ccflow/fix-1", not a full ref' });
  else if (branch === 'HEAD') issues.push({ path: ['branch'], message: 'must be a branch name, not HEAD' });
  if (push.remote !== undefined) {
    const remote = classifyRepoUrl(push.remote);
    if ('error' in remote) issues.push({ path: ['remote'], message: remote.error });
  }
  return issues;
}

/** Issues of a commit identity (`{ name, email }`): no newlines or angle brackets. */
export function identityIssues(identity: { name: string; email: string }): InputIssue[] {
  const issues: InputIssue[] = [];
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  const bad = /[\x00-\x1f\x7f<>]/;
  if (identity.name.trim() === '' || identity.name.length > 200 || bad.test(identity.name)) {
    issues.push({ path: ['name'], message: 'must be 1-200 characters without newlines or <>' });
  }
  if (!/^[^\s<>@]+@[^\s<>@]+$/.test(identity.email) || identity.email.length > 200) {
    issues.push({ path: ['email'], message: 'must be an email address like agent@example.com' });
  }
  return issues;
}

/** What changed between two commits: a task's or a turn's `changes`. */
export type FileStatus = 'added' | 'modified' | 'deleted' | 'renamed' | 'copied' | 'type-changed';

export interface FileChange {
  path: string;
  status: FileStatus;
  /** Lines added; 0 for a binary file. */
  insertions: number;
  /** Lines removed; 0 for a binary file. */
  deletions: number;
  /** The path before a rename or copy. */
  oldPath?: string;
  /** git saw binary content (no line counts). */
  binary?: boolean;
}

export interface ChangeSummary {
  baseCommit: string;
  headCommit: string;
  /** The first `maxFiles` changed files, in git's order (by path). */
  files: FileChange[];
  /** Totals over every changed file, listed or not. */
  insertions: number;
  deletions: number;
  /** How many files changed, listed or not. */
  filesChanged: number;
  /** Present when `files` was cut to `maxFiles` entries. */
  truncated?: true;
}

/** Who commits a task's changes unless the task says (`repo.author`). */
export const DEFAULT_COMMIT_IDENTITY = { name: 'ccflow agent', email: 'agent@ccflow.invalid' } as const;

/** Files a change summary lists at most; its totals still count every file. */
export const MAX_SUMMARY_FILES = 100;
/** A turn's own summary lists fewer: every turn's summary stays in the task's result. */
export const MAX_TURN_SUMMARY_FILES = 50;

/**
 * The branch a task's commits go on inside its sandbox: `ccflow/<workflow id>`, with anything
 * a ref may not hold replaced, so any workflow id makes a valid name.
 */
export function taskBranchName(workflowId: string): string {
  const cleaned = workflowId
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[.-]+|[.-]+$/g, '')
    .replace(/\.lock$/i, '-lock')
    .slice(0, 100);
  return `ccflow/${cleaned === '' ? 'task' : cleaned}`;
}

/** The longest first line a default commit message takes from the prompt. */
const SUBJECT_CHARS = 72;

/**
 * A turn's commit message: the task's own (`repo.message`), or the prompt's first line, then
 * which task and turn made it.
 */
export function commitMessage(o: { prompt: string; workflowId: string; turn: number; message?: string | undefined }): string {
  if (o.message !== undefined) return o.message;
  const first = o.prompt.trim().split('\n')[0]?.trim() ?? '';
  const subject = first.length > SUBJECT_CHARS ? `${first.slice(0, SUBJECT_CHARS - 1)}…` : first || 'ccflow task';
  return `${subject}\n\nccflow task ${o.workflowId}, turn ${o.turn}\n`;
}

/** `3 files changed, 10 insertions(+), 2 deletions(-)`, as git prints it. */
export function formatShortStat(s: Pick<ChangeSummary, 'filesChanged' | 'insertions' | 'deletions'>): string {
  const parts = [`${s.filesChanged} file${s.filesChanged === 1 ? '' : 's'} changed`];
  if (s.insertions > 0 || s.deletions === 0) parts.push(`${s.insertions} insertion${s.insertions === 1 ? '' : 's'}(+)`);
  if (s.deletions > 0 || s.insertions === 0) parts.push(`${s.deletions} deletion${s.deletions === 1 ? '' : 's'}(-)`);
  return parts.join(', ');
}
