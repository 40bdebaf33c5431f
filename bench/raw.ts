/**
 * The two baselines of the overhead benchmark, run with the same argv/env builders and the same
 * result MCP server configuration as the runClaude activity, so only the orchestration differs:
 * (a) `claude -p` spawned directly in a plain directory;
 * (b) `claude -p` started with LocalSandbox.execDetached in the bubblewrap jail ccflow uses.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildClaudeArgs, buildClaudeEnv, buildMcpConfig, type ModelEndpoint } from '../src/claude/args.js';
import { runFiles } from '../src/claude/runner.js';
import { claudeBinaryPath, localSandboxMounts } from '../src/worker/index.js';
import { LocalSandboxProvider, type LocalSandbox } from '../src/sandbox/local/index.js';
import {
  SANDBOX_CCFLOW_DIR,
  SANDBOX_CLAUDE_BIN,
  SANDBOX_HOME,
  SANDBOX_NODE_BIN,
  SANDBOX_RESULT_SERVER,
  SANDBOX_WORKDIR,
} from '../src/sandbox/layout.js';
import { DEFAULT_RESULT_SCHEMA } from '../src/schemas/task-spec.js';
import { REPO_ROOT } from './lib/paths.js';
import { nowMs } from './timing-provider.js';

/** The PATH the runClaude activity gives claude inside a sandbox. */
const SANDBOX_PATH = '/opt/ccflow/bin:/usr/local/bin:/usr/bin:/bin';
/** How often a baseline looks for first output and exit (its own "poll" cost, kept tiny). */
const WATCH_MS = 5;

export interface RawOutcome {
  /** Start of the spawn → the process ended. */
  wallMs: number;
  /** Start of the spawn → first stdout byte seen (within WATCH_MS). */
  firstOutputMs?: number;
  /** Result line written → process ended (the CLI's own shutdown). */
  resultToExitMs?: number;
  /** (b) only: sandbox create and destroy, outside wallMs. */
  createMs?: number;
  destroyMs?: number;
}

/** The files the activity writes before starting claude, by their (inside) paths. */
function ccflowFiles(dir: string) {
  return {
    schema: `${dir}/result-schema.json`,
    result: `${dir}/result.json`,
    attempts: `${dir}/result-attempts.jsonl`,
    mcpConfig: `${dir}/mcp.json`,
  };
}

/** Checks the run did what the scenario says: a success result line and the submitted result. */
async function verify(stdoutFile: string, resultFile: string, stderrFile: string, expected: unknown): Promise<void> {
  const out = (await readFile(stdoutFile, 'utf8').catch(() => '')).trim().split('\n');
  const last = out.at(-1) ?? '';
  const ok = /"type":"result"/.test(last) && /"subtype":"success"/.test(last);
  const result = await readFile(resultFile, 'utf8').catch(() => undefined);
  if (!ok || result === undefined || JSON.stringify(JSON.parse(result)) !== JSON.stringify(expected)) {
    const stderr = await readFile(stderrFile, 'utf8').catch(() => '');
    throw new Error(
      `baseline run did not complete the scenario (result file: ${result ?? 'missing'}); last line: ${last.slice(0, 300)}; stderr: ${stderr.slice(-500)}`,
    );
  }
}

/** Watches a stdout file for its first byte, recording when (ms since t0). */
function watchFirstOutput(file: string, t0: number): { stop: () => void; firstOutputMs: () => number | undefined } {
  let first: number | undefined;
  let stopped = false;
  void (async () => {
    while (!stopped && first === undefined) {
      const st = await stat(file).catch(() => undefined);
      if (st && st.size > 0) first = nowMs() - t0;
      else await sleep(WATCH_MS);
    }
  })();
  return { stop: () => (stopped = true), firstOutputMs: () => first };
}

/** Milliseconds between the result line being written (stdout mtime) and the exit. */
async function resultToExit(stdoutFile: string, exitAt: number): Promise<number | undefined> {
  const st = await stat(stdoutFile).catch(() => undefined);
  return st ? exitAt - st.mtimeMs : undefined;
}

/** (a) `claude -p` in a plain directory, with a fresh HOME, stdin/stdout/stderr from/to files. */
export async function runPlain(o: { root: string; prompt: string; model: ModelEndpoint; expected: unknown }): Promise<RawOutcome> {
  await mkdir(o.root, { recursive: true });
  const dir = await mkdtemp(path.join(o.root, 'plain-'));
  try {
    const home = path.join(dir, 'home');
    const workdir = path.join(home, 'workspace');
    const ccflowDir = path.join(home, '.ccflow');
    const runDir = path.join(ccflowDir, 'runs', 'run-1', 'a1');
    await mkdir(workdir, { recursive: true });
    await mkdir(runDir, { recursive: true });
    const f = ccflowFiles(ccflowDir);
    const rf = runFiles(runDir);
    await writeFile(f.schema, JSON.stringify(DEFAULT_RESULT_SCHEMA));
    await writeFile(
      f.mcpConfig,
      JSON.stringify(
        buildMcpConfig({
          nodeBin: process.execPath,
          serverPath: path.join(REPO_ROOT, 'sandbox-template', 'result-server', 'server.mjs'),
          schemaFile: f.schema,
          resultFile: f.result,
          attemptsFile: f.attempts,
        }),
      ),
    );
    await writeFile(rf.prompt, o.prompt);
    const argv = buildClaudeArgs({
      claudeBin: claudeBinaryPath(),
      mcpConfigPath: f.mcpConfig,
      permissionMode: 'dontAsk',
      newSessionId: randomUUID(),
    });
    const env = buildClaudeEnv({ home, path: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, model: o.model });
    const stdin = await open(rf.prompt, 'r');
    const stdout = await open(rf.stdout, 'w');
    const stderr = await open(rf.stderr, 'w');
    const [bin, ...args] = argv;
    if (bin === undefined) throw new Error('empty argv');
    const t0 = nowMs();
    const child = spawn(bin, args, { cwd: workdir, env, stdio: [stdin.fd, stdout.fd, stderr.fd] });
    const watch = watchFirstOutput(rf.stdout, t0);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
    const t1 = nowMs();
    watch.stop();
    await Promise.all([stdin.close(), stdout.close(), stderr.close()]);
    if (code !== 0) throw new Error(`claude exited with ${code}: ${(await readFile(rf.stderr, 'utf8')).slice(-500)}`);
    await verify(rf.stdout, f.result, rf.stderr, o.expected);
    return { wallMs: t1 - t0, firstOutputMs: watch.firstOutputMs(), resultToExitMs: await resultToExit(rf.stdout, t1) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** (b) `claude -p` in a local bubblewrap sandbox, started exactly as runAgent starts it. */
export async function runInSandbox(o: {
  provider: LocalSandboxProvider;
  prompt: string;
  model: ModelEndpoint;
  expected: unknown;
}): Promise<RawOutcome> {
  const c0 = nowMs();
  const sandbox: LocalSandbox = await o.provider.create({ metadata: { owner: 'ccflow-bench' } });
  const createMs = nowMs() - c0;
  let outcome: RawOutcome;
  let destroyMs: number;
  try {
    outcome = await runJailed(sandbox, o);
  } finally {
    const d0 = nowMs();
    await o.provider.destroy(sandbox.sandboxId);
    destroyMs = nowMs() - d0;
  }
  return { ...outcome, createMs, destroyMs };
}

async function runJailed(sandbox: LocalSandbox, o: { prompt: string; model: ModelEndpoint; expected: unknown }): Promise<RawOutcome> {
  const host = (p: string) => `${sandbox.dir}/home${p.slice(SANDBOX_HOME.length)}`;
  const f = ccflowFiles(SANDBOX_CCFLOW_DIR);
  const rf = runFiles(`${SANDBOX_CCFLOW_DIR}/runs/run-1/a1`);
  await sandbox.writeFile(f.schema, JSON.stringify(DEFAULT_RESULT_SCHEMA));
  await sandbox.writeFile(
    f.mcpConfig,
    JSON.stringify(
      buildMcpConfig({
        nodeBin: SANDBOX_NODE_BIN,
        serverPath: SANDBOX_RESULT_SERVER,
        schemaFile: f.schema,
        resultFile: f.result,
        attemptsFile: f.attempts,
      }),
    ),
  );
  await sandbox.writeFile(rf.prompt, o.prompt);
  const argv = buildClaudeArgs({
    claudeBin: SANDBOX_CLAUDE_BIN,
    mcpConfigPath: f.mcpConfig,
    permissionMode: 'dontAsk',
    newSessionId: randomUUID(),
  });
  const env = buildClaudeEnv({ home: SANDBOX_HOME, path: SANDBOX_PATH, model: o.model });
  const t0 = nowMs();
  await sandbox.execDetached(argv, {
    cwd: SANDBOX_WORKDIR,
    env,
    stdinPath: rf.prompt,
    stdoutPath: rf.stdout,
    stderrPath: rf.stderr,
    exitCodePath: rf.exitCode,
  });
  const watch = watchFirstOutput(host(rf.stdout), t0);
  // The exit-code file's mtime is when the jailed wrapper saw claude end: the exact end,
  // whatever this loop's granularity.
  let exitAt: number | undefined;
  const deadline = Date.now() + 300_000;
  while (exitAt === undefined) {
    const st = await stat(host(rf.exitCode)).catch(() => undefined);
    if (st) exitAt = st.mtimeMs;
    else if (Date.now() > deadline) throw new Error('sandboxed claude did not exit within 5 minutes');
    else await sleep(WATCH_MS);
  }
  watch.stop();
  const code = (await readFile(host(rf.exitCode), 'utf8')).trim();
  if (code !== '0') throw new Error(`sandboxed claude exited with ${code}: ${(await readFile(host(rf.stderr), 'utf8')).slice(-500)}`);
  await verify(host(rf.stdout), host(f.result), host(rf.stderr), o.expected);
  return {
    wallMs: exitAt - t0,
    firstOutputMs: watch.firstOutputMs(),
    resultToExitMs: await resultToExit(host(rf.stdout), exitAt),
  };
}

/** A local provider like the worker's (bubblewrap, the package's mounts) under `rootDir`. */
export function benchLocalProvider(rootDir: string): LocalSandboxProvider {
  return new LocalSandboxProvider({ rootDir, mounts: localSandboxMounts(REPO_ROOT) });
}
