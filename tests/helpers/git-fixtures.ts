import { mkdir, mkdtemp, readFile, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../../src/git/process.js';
import type { WorkspaceRunner } from '../../src/git/workspace.js';

/**
 * Repositories for git tests, built with the real git CLI under an isolated HOME (no user or
 * system config leaks in), and a WorkspaceRunner that runs the in-sandbox scripts on the host.
 */

export interface TestGit {
  home: string;
  env: Record<string, string>;
  /** Runs git and returns stdout; throws with stderr on failure. */
  (args: string[], opts?: { cwd?: string; input?: string | Buffer; env?: Record<string, string> }): Promise<string>;
  raw(
    args: string[],
    opts?: { cwd?: string; input?: string | Buffer; env?: Record<string, string> },
  ): Promise<{ exitCode: number; stdout: Buffer; stderr: string }>;
}

export async function testGit(): Promise<TestGit> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'ccflow-git-home-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.com',
    GIT_COMMITTER_NAME: 'Test Author',
    GIT_COMMITTER_EMAIL: 'author@example.com',
  };
  const raw: TestGit['raw'] = (args, opts = {}) =>
    runProcess('git', args, {
      env: { ...env, ...opts.env },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  const fn = (async (args, opts = {}) => {
    const r = await raw(args, opts);
    if (r.exitCode !== 0) throw new Error(`git ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout.toString('utf8');
  }) as TestGit;
  fn.home = home;
  fn.env = env;
  fn.raw = raw;
  return fn;
}

/** Deterministic pseudo-random bytes (binary fixtures that do not change between runs). */
export function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export interface FixtureRepo {
  /** The bare repository (served by the git server when under its root). */
  bare: string;
  /** The commit at its HEAD (main). */
  head: string;
  /** Commits on main, oldest first. */
  commits: string[];
}

/**
 * A bare repository `<root>/<name>` with `history` commits on main: the first adds `files`,
 * every later one appends a line to `history.txt`. Files ending in `.sh` are executable.
 */
export async function makeRepo(
  git: TestGit,
  root: string,
  name: string,
  o: { files: Record<string, string | Buffer>; history?: number; branches?: Record<string, Record<string, string>> },
): Promise<FixtureRepo> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ccflow-git-work-'));
  await git(['init', '-q', '-b', 'main', work]);
  for (const [p, content] of Object.entries(o.files)) {
    const full = path.join(work, p);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
    if (p.endsWith('.sh')) await chmod(full, 0o755);
  }
  await git(['-C', work, 'add', '-A']);
  await git(['-C', work, 'commit', '-q', '-m', 'initial']);
  const commits = [(await git(['-C', work, 'rev-parse', 'HEAD'])).trim()];
  for (let i = 1; i < (o.history ?? 1); i += 1) {
    await writeFile(
      path.join(work, 'history.txt'),
      `${await readFile(path.join(work, 'history.txt'), 'utf8').catch(() => '')}commit ${i}\n`,
    );
    await git(['-C', work, 'add', 'history.txt']);
    await git(['-C', work, 'commit', '-q', '-m', `commit ${i}`]);
    commits.push((await git(['-C', work, 'rev-parse', 'HEAD'])).trim());
  }
  for (const [branch, files] of Object.entries(o.branches ?? {})) {
    await git(['-C', work, 'switch', '-q', '-c', branch, commits[0]!]);
    for (const [p, content] of Object.entries(files)) await writeFile(path.join(work, p), content);
    await git(['-C', work, 'add', '-A']);
    await git(['-C', work, 'commit', '-q', '-m', `on ${branch}`]);
    await git(['-C', work, 'switch', '-q', 'main']);
  }
  const bare = path.join(root, name);
  await git(['clone', '-q', '--bare', work, bare]);
  // Reflogs in the served repository let tests count ref updates (pushes).
  await git(['-C', bare, 'config', 'core.logAllRefUpdates', 'always']);
  return { bare, head: commits[commits.length - 1]!, commits };
}

/** Runs the in-sandbox scripts directly on the host, for tests without a sandbox. */
export function hostRunner(): WorkspaceRunner {
  return {
    async run(argv, env) {
      const r = await runProcess(argv[0]!, argv.slice(1), { env: { ...env, PATH: process.env.PATH ?? env.PATH ?? '/usr/bin:/bin' } });
      return { exitCode: r.exitCode, stderr: r.stderr };
    },
    readFile: (p) => readFile(p).catch(() => undefined),
    async writeFile(p, content) {
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content);
    },
  };
}
