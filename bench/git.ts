/**
 * Working on a repository, what it costs:
 * (1) recording a turn's change on a 10,000-file repository, inside a bubblewrap sandbox, the
 *     way captureChanges does it (the in-sandbox script, the same helper-process polling), and
 *     the same git work run directly on the host for comparison;
 * (2) the time to the agent's first output of a full agentTask on a ~100 MB repository (a local
 *     path, so the network is not what is measured), against the same task without a repository.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { sandboxRunner } from '../src/activities/sandbox-tool.js';
import { DEFAULT_COMMIT_IDENTITY } from '../src/domain/git.js';
import { DEFAULT_RUN_TIMING } from '../src/claude/runner.js';
import { captureChange, createGitHost, createSeedBundle, fetchRepo, seedWorkspace, type WorkspaceRunner } from '../src/git/index.js';
import { runProcess } from '../src/git/process.js';
import { SANDBOX_CCFLOW_DIR, SANDBOX_HOME, SANDBOX_WORKDIR } from '../src/sandbox/layout.js';
import type { TaskResult } from '../src/schemas/task-spec.js';
import type { SandboxSecurity } from '../src/worker/security.js';
import { TASK_QUEUE, type BenchEnv } from './lib/env.js';
import { fetchHistory, timeline } from './lib/history.js';
import { summarize, type Summary } from './lib/stats.js';
import type { WorkerProcess } from './lib/worker-handle.js';
import { benchLocalProvider } from './raw.js';
import { OVERHEAD_PROMPT } from './scenario.js';
import { nowMs } from './timing-provider.js';

const run = promisify(execFile);

import { CAPTURE_TARGET_MS } from './lib/targets.js';

export interface GitResult {
  capture: {
    files: number;
    iterations: number;
    /** In a bubblewrap sandbox, as captureChanges runs it (helper polled up to the worker's interval). */
    sandbox: Summary;
    /** The same script run directly on the host: git's own share. */
    host: Summary;
    pollMs: number;
  };
  firstOutput: {
    repoPackMiB: number;
    repoTreeMiB: number;
    iterations: number;
    /** Client start → the agent's first stream output. */
    withRepo: Summary;
    withoutRepo: Summary;
    /** p50 with − p50 without. */
    addedMs: number;
    /** The prepareRepo activity (fetch, bundle, upload, checkout), from workflow history. */
    prepareRepo: Summary;
  };
}

/** A bare repository under dir, built by one script: text files and random binary assets. */
async function makeRepo(dir: string, o: { textFiles: number; binaries: number; binaryBytes: number }): Promise<string> {
  const work = `${dir}.work`;
  await rm(work, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const perDir = 100;
  for (let i = 0; i < o.textFiles; i++) {
    const d = path.join(work, 'src', `d${String(Math.floor(i / perDir)).padStart(3, '0')}`);
    if (i % perDir === 0) await mkdir(d, { recursive: true });
    await writeFile(path.join(d, `f${i % perDir}.ts`), `export const value${i} = ${i};\n// line a\n// line b\n`);
  }
  if (o.binaries > 0) await mkdir(path.join(work, 'assets'), { recursive: true });
  for (let i = 0; i < o.binaries; i++) await writeFile(path.join(work, 'assets', `a${i}.bin`), randomBytes(o.binaryBytes));
  await writeFile(path.join(work, '.gitignore'), 'node_modules/\n*.log\n');
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.com',
  };
  const git = (args: string[], cwd = work) => run('git', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  await git(['init', '-q', '-b', 'main']);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'initial']);
  await git(['clone', '-q', '--bare', work, dir], path.dirname(dir));
  await git(['gc', '-q'], dir);
  await rm(work, { recursive: true, force: true });
  return dir;
}

function hostRunner(): WorkspaceRunner {
  return {
    async run(argv, env) {
      const r = await runProcess(argv[0]!, argv.slice(1), { env });
      return { exitCode: r.exitCode, stderr: r.stderr };
    },
    readFile: (p) => readFile(p).catch(() => undefined),
    async writeFile(p, content) {
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content);
    },
  };
}

/** (1): the capture of a typical turn (two edits and a new file) on 10,000 files. */
async function captureBench(
  dir: string,
  security: SandboxSecurity,
  iterations: number,
  log: (s: string) => void,
): Promise<GitResult['capture']> {
  const files = 10_000;
  const bare = await makeRepo(path.join(dir, 'files10k.git'), { textFiles: files, binaries: 0, binaryBytes: 0 });
  const git = createGitHost({ env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' } });
  const fetched = await fetchRepo(git, { url: bare, dir: path.join(dir, 'fetched10k') });
  await createSeedBundle(git, fetched.dir, path.join(dir, 'seed10k.bundle'));
  const bundle = await readFile(path.join(dir, 'seed10k.bundle'));
  const identity = { ...DEFAULT_COMMIT_IDENTITY };
  const pollMs = DEFAULT_RUN_TIMING.pollIntervalMs;

  const measure = async (
    runner: WorkspaceRunner,
    layout: { workspace: string; stateDir: string },
    home: string,
    /** Writes a file of the workspace, by its path relative to it (the agent's edits). */
    edit: (rel: string, content: string) => Promise<void>,
  ) => {
    await seedWorkspace(runner, {
      layout,
      home,
      bundle,
      shallow: fetched.shallow,
      baseCommit: fetched.baseCommit,
      branch: 'ccflow/bench',
      identity,
    });
    let parent = fetched.baseCommit;
    const times: number[] = [];
    // One untimed turn first: page cache.
    for (let i = -1; i < iterations; i++) {
      await edit(`src/d${String((i + 1) % 100).padStart(3, '0')}/f0.ts`, `// edited in turn ${i}\n`);
      await edit(`src/d${String((i + 51) % 100).padStart(3, '0')}/f1.ts`, `// edited too ${i}\n`);
      await edit(`src/new-${i + 1}.ts`, `export const n = ${i};\n`);
      const t0 = performance.now();
      const c = await captureChange(runner, {
        layout,
        home,
        parentCommit: parent,
        baseCommit: fetched.baseCommit,
        branch: 'ccflow/bench',
        identity,
        message: `turn ${i}`,
      });
      const ms = performance.now() - t0;
      if (!c.committed || c.turn.filesChanged !== 3) throw new Error(`capture ${i} recorded ${c.turn.filesChanged} files, expected 3`);
      parent = c.headCommit;
      if (i >= 0) times.push(ms);
    }
    return summarize(times);
  };

  const provider = benchLocalProvider(path.join(dir, 'git-sandboxes'), security);
  const sbx = await provider.create({ metadata: { bench: 'git-capture' } });
  let sandbox: Summary;
  try {
    const runner = sandboxRunner(sbx, { prefix: `${SANDBOX_CCFLOW_DIR}/git/run`, pollMs });
    sandbox = await measure(runner, { workspace: SANDBOX_WORKDIR, stateDir: SANDBOX_CCFLOW_DIR }, SANDBOX_HOME, (rel, content) =>
      sbx.writeFile(`${SANDBOX_WORKDIR}/${rel}`, content),
    );
  } finally {
    await provider.destroy(sbx.sandboxId);
  }
  const hostHome = path.join(dir, 'git-host-home');
  await mkdir(path.join(hostHome, 'workspace'), { recursive: true });
  const host = await measure(
    hostRunner(),
    { workspace: path.join(hostHome, 'workspace'), stateDir: path.join(hostHome, '.ccflow') },
    hostHome,
    (rel, content) => writeFile(path.join(hostHome, 'workspace', rel), content),
  );
  log(
    `  capture on ${files} files: sandbox p50 ${sandbox.p50.toFixed(0)} ms (target ${CAPTURE_TARGET_MS}), host p50 ${host.p50.toFixed(0)} ms`,
  );
  return { files, iterations, sandbox, host, pollMs };
}

/** (2): time to the first agent output of the overhead scenario, with and without a ~100 MB repository. */
async function firstOutputBench(
  env: BenchEnv,
  worker: WorkerProcess,
  dir: string,
  o: { iterations: number; quick: boolean; log: (s: string) => void },
): Promise<GitResult['firstOutput']> {
  const bare = await makeRepo(path.join(dir, 'big.git'), { textFiles: 4_000, binaries: o.quick ? 100 : 1_000, binaryBytes: 100_000 });
  const git = createGitHost({ env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
  const probe = await fetchRepo(git, { url: bare, dir: path.join(dir, 'big-probe') });
  await rm(probe.dir, { recursive: true, force: true });

  const one = async (workflowId: string, withRepo: boolean) => {
    const c0 = nowMs();
    const handle = await env.client.workflow.start('agentTask', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [{ prompt: OVERHEAD_PROMPT, ...(withRepo ? { repo: { url: bare } } : {}) }],
    });
    const result = (await handle.result()) as TaskResult;
    if (withRepo && result.changes?.filesChanged !== 1)
      throw new Error(`${workflowId}: expected one changed file, got ${JSON.stringify(result.changes)}`);
    const records = await worker.timings();
    const sandboxId = records.find((r) => r.op === 'create' && r.workflowId === workflowId)?.sandboxId;
    const first = records.find((r) => r.sandboxId === sandboxId && r.op === 'firstOutput');
    if (!first) throw new Error(`${workflowId}: no first output recorded`);
    const prepare = timeline(await fetchHistory(env.client, workflowId)).activities.find((a) => a.name === 'prepareRepo');
    return {
      firstMs: first.t1 - c0,
      prepareMs: prepare?.started !== undefined && prepare.completed !== undefined ? prepare.completed - prepare.started : undefined,
    };
  };

  await one('bench-git-warmup', true);
  const withRepo: number[] = [];
  const without: number[] = [];
  const prepare: number[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const a = await one(`bench-git-repo-${i}`, true);
    const b = await one(`bench-git-plain-${i}`, false);
    withRepo.push(a.firstMs);
    without.push(b.firstMs);
    if (a.prepareMs !== undefined) prepare.push(a.prepareMs);
    o.log(`  first output ${i + 1}/${o.iterations}: with the repository ${a.firstMs.toFixed(0)} ms, without ${b.firstMs.toFixed(0)} ms`);
  }
  const sw = summarize(withRepo);
  const so = summarize(without);
  return {
    repoPackMiB: probe.packBytes / 1024 / 1024,
    repoTreeMiB: probe.treeBytes / 1024 / 1024,
    iterations: o.iterations,
    withRepo: sw,
    withoutRepo: so,
    addedMs: sw.p50 - so.p50,
    prepareRepo: summarize(prepare),
  };
}

export async function gitBench(
  env: BenchEnv,
  worker: WorkerProcess,
  o: { iterations: number; quick: boolean; log: (s: string) => void },
): Promise<GitResult> {
  const dir = path.join(env.dir, 'git');
  await mkdir(dir, { recursive: true });
  const capture = await captureBench(dir, env.security, o.iterations, o.log);
  const firstOutput = await firstOutputBench(env, worker, dir, { iterations: o.quick ? 2 : 5, quick: o.quick, log: o.log });
  return { capture, firstOutput };
}
