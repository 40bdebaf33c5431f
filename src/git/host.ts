import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { GitError, classifyTransportFailure, stderrTail } from './errors.js';
import { runProcess, type ProcessResult } from './process.js';
import { classifyRepoUrl } from '../domain/git.js';

/**
 * git on the worker host, run with the worker's own identity: its environment (HOME and so
 * its ~/.gitconfig credential helpers, SSH agent and keys, proxies) plus, optionally, HTTPS
 * credentials from the worker's configuration. Nothing here ever comes from task input but
 * the URL and ref, which were validated first.
 */

/** An HTTPS username/password (or token) the worker uses for URLs under `url`. */
export interface GitCredential {
  /** Scope: `https://host` or `https://host/org/`; git only sends it to matching URLs. */
  url: string;
  username: string;
  password: string;
}

export interface GitHostConfig {
  /** The environment git runs with (the worker's; HOME, PATH, SSH_AUTH_SOCK, proxies...). */
  env: Readonly<Record<string, string | undefined>>;
  /** Credentials handed to git through an environment-only credential helper. */
  credentials?: readonly GitCredential[];
  /**
   * Directories local repositories (paths, file:// URLs) may be read from. Undefined allows
   * any path the worker can read, which suits a developer's own worker; set it on shared ones.
   */
  localRoots?: readonly string[];
  /**
   * A repository whose fetched pack or checked-out tree is bigger than this is refused.
   * @default 1024 * 1024 * 1024 // 1 GiB
   */
  maxBytes?: number;
  /**
   * Limit of one network command (ls-remote, fetch, push).
   * @default 600_000 // 10 minutes
   */
  timeoutMs?: number;
  /** @default 'git' (looked up on PATH) */
  gitBinary?: string;
}

export interface GitRunOpts {
  cwd?: string;
  input?: Buffer | string;
  signal?: AbortSignal;
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** More variables for this command only. */
  env?: Record<string, string>;
}

export interface GitHost {
  readonly maxBytes: number;
  /** Runs git; the caller reads the exit code. */
  run(args: readonly string[], opts?: GitRunOpts): Promise<ProcessResult>;
  /** Runs git and returns stdout; a non-zero exit is a GitError (`failed`) naming `what`. */
  ok(what: string, args: readonly string[], opts?: GitRunOpts): Promise<Buffer>;
  /** Runs a transport command (ls-remote, fetch, push); failures are classified. */
  transport(what: string, args: readonly string[], opts?: GitRunOpts): Promise<ProcessResult>;
  /** Throws GitError `forbidden` when the worker may not read this location. */
  checkLocation(url: string): Promise<void>;
}

export const DEFAULT_MAX_REPO_BYTES = 1024 * 1024 * 1024;

/** The protocols host git may use at all (also for anything a repository points at). */
const ALLOWED_PROTOCOLS = 'https:http:ssh:git:file';

// The credential helper is fixed text: the values reach it through its environment, so they
// are never in argv (visible in ps) or in any config file.
const HELPER = (i: number) =>
  `!f() { test "$1" = get || exit 0; printf 'username=%s\\npassword=%s\\n' "$CCFLOW_GIT_USERNAME_${i}" "$CCFLOW_GIT_PASSWORD_${i}"; }; f`;

export function createGitHost(config: GitHostConfig): GitHost {
  const gitBinary = config.gitBinary ?? 'git';
  const timeoutMs = config.timeoutMs ?? 600_000;
  const maxBytes = config.maxBytes ?? DEFAULT_MAX_REPO_BYTES;
  const baseEnv = buildEnv(config);

  const run = (args: readonly string[], opts: GitRunOpts = {}) =>
    runProcess(gitBinary, args, {
      env: opts.env ? { ...baseEnv, ...opts.env } : baseEnv,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.maxOutputBytes !== undefined ? { maxOutputBytes: opts.maxOutputBytes } : {}),
      timeoutMs: opts.timeoutMs ?? timeoutMs,
    });

  return {
    maxBytes,
    run,
    async ok(what, args, opts) {
      const r = await run(args, opts);
      if (r.exitCode !== 0) {
        const tail = stderrTail(r.stderr);
        throw new GitError('failed', `${what} failed (git ${args[0] ?? ''} exited with ${r.exitCode})${tail ? `: ${tail}` : ''}`, {
          stderrTail: tail,
        });
      }
      return r.stdout;
    },
    async transport(what, args, opts) {
      const r = await run(args, opts);
      if (r.killed === 'timeout') {
        throw new GitError('network', `${what} took longer than ${Math.round((opts?.timeoutMs ?? timeoutMs) / 1000)} s and was stopped`);
      }
      return r;
    },
    async checkLocation(url) {
      const kind = classifyRepoUrl(url);
      if ('error' in kind) throw new GitError('invalid', `repository URL ${JSON.stringify(url)}: ${kind.error}`);
      if ((kind.kind !== 'path' && kind.kind !== 'file') || config.localRoots === undefined) return;
      const local = kind.kind === 'file' ? decodeURIComponent(new URL(url).pathname) : url;
      const real = await realpath(local).catch(() => undefined);
      if (real === undefined) throw new GitError('not-found', `repository ${url} does not exist on the worker`);
      for (const root of config.localRoots) {
        const r = await realpath(root).catch(() => path.resolve(root));
        if (real === r || real.startsWith(`${r}${path.sep}`)) return;
      }
      throw new GitError('forbidden', `repository ${url} is outside the local directories this worker may read (CCFLOW_GIT_LOCAL_ROOTS)`);
    },
  };
}

/** Failed transport output as a GitError, worded for the operation. */
export function transportError(what: string, url: string, r: ProcessResult): GitError {
  const tail = stderrTail(r.stderr);
  const code = classifyTransportFailure(r.stderr);
  const reason: Record<string, string> = {
    auth: `the worker's git credentials were refused or are missing for ${url}; configure a credential helper, SSH key or CCFLOW_GIT_CREDENTIALS on the worker`,
    'not-found': `repository ${url} was not found, or the worker may not read it`,
    network: `could not reach ${url}`,
    failed: `git failed on ${url}`,
  };
  return new GitError(code, `${what}: ${reason[code] ?? reason.failed}${tail ? ` (git: ${tail.split('\n').slice(-2).join(' / ')})` : ''}`, {
    stderrTail: tail,
  });
}

function buildEnv(config: GitHostConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.env)) if (v !== undefined) env[k] = v;
  // Never wait for a person; messages in English, because failures are read by their wording.
  env.GIT_TERMINAL_PROMPT = '0';
  env.LC_ALL = 'C';
  env.LANGUAGE = 'C';
  env.GIT_ALLOW_PROTOCOL = ALLOWED_PROTOCOLS;
  const creds = config.credentials ?? [];
  let count = Number(env.GIT_CONFIG_COUNT ?? '0');
  if (!Number.isInteger(count) || count < 0) count = 0;
  creds.forEach((c, i) => {
    const scope = c.url.replace(/\/+$/, '');
    env[`GIT_CONFIG_KEY_${count}`] = `credential.${scope}.helper`;
    env[`GIT_CONFIG_VALUE_${count}`] = HELPER(i);
    count += 1;
    if (new URL(c.url).pathname.replace(/\/+$/, '') !== '') {
      // A scope with a path only matches when git compares paths too.
      env[`GIT_CONFIG_KEY_${count}`] = `credential.${scope}.useHttpPath`;
      env[`GIT_CONFIG_VALUE_${count}`] = 'true';
      count += 1;
    }
    env[`CCFLOW_GIT_USERNAME_${i}`] = c.username;
    env[`CCFLOW_GIT_PASSWORD_${i}`] = c.password;
  });
  if (count > 0) env.GIT_CONFIG_COUNT = String(count);
  return env;
}
