/**
 * The two baselines of the overhead benchmark, run with the same argv/env builders and the same
 * result MCP server configuration as the runClaude activity, so only the orchestration differs:
 * (a) `claude -p` spawned directly in a plain directory;
 * (b) `claude -p` started with LocalSandbox.execDetached in the bubblewrap jail ccflow uses, with
 *     the model reached as ccflow's runs reach it: through the model proxy (a worker's
 *     SandboxSecurity) over the socket bound into the jail, which has no other network.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildClaudeArgs, buildClaudeEnv, buildMcpConfig, endpointEnv, type ModelEndpoint } from '../src/claude/args.js';
import { runFiles } from '../src/claude/runner.js';
import { claudeBinaryPath, localSandboxMounts } from '../src/worker/index.js';
import { LocalSandboxProvider, type LocalSandbox } from '../src/sandbox/local/index.js';
import type { SandboxSecurity } from '../src/worker/security.js';
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
function verify(stdout: string | undefined, result: string | undefined, stderr: string | undefined, expected: unknown): void {
  const last = (stdout ?? '').trim().split('\n').at(-1) ?? '';
  const ok = /"type":"result"/.test(last) && /"subtype":"success"/.test(last);
  if (!ok || result === undefined || JSON.stringify(JSON.parse(result)) !== JSON.stringify(expected)) {
    throw new Error(
      `baseline run did not complete the scenario (result file: ${result ?? 'missing'}); last line: ${last.slice(0, 300)}; stderr: ${(stderr ?? '').slice(-500)}`,
    );
  }
}

/** Watches a stdout file (by its size) for its first byte, recording when (ms since t0). */
function watchFirstOutput(
  size: () => Promise<number | undefined>,
  t0: number,
): { stop: () => void; firstOutputMs: () => number | undefined } {
  let first: number | undefined;
  let stopped = false;
  void (async () => {
    while (!stopped && first === undefined) {
      const n = await size().catch(() => undefined);
      if (n !== undefined && n > 0) first = nowMs() - t0;
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
    const env = buildClaudeEnv({
      home,
      path: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      model: endpointEnv(o.model),
    });
    const stdin = await open(rf.prompt, 'r');
    const stdout = await open(rf.stdout, 'w');
    const stderr = await open(rf.stderr, 'w');
    const [bin, ...args] = argv;
    if (bin === undefined) throw new Error('empty argv');
    const t0 = nowMs();
    const child = spawn(bin, args, { cwd: workdir, env, stdio: [stdin.fd, stdout.fd, stderr.fd] });
    const watch = watchFirstOutput(async () => (await stat(rf.stdout).catch(() => undefined))?.size, t0);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    });
    const t1 = nowMs();
    watch.stop();
    await Promise.all([stdin.close(), stdout.close(), stderr.close()]);
    if (code !== 0) throw new Error(`claude exited with ${code}: ${(await readFile(rf.stderr, 'utf8')).slice(-500)}`);
    const text = (p: string) => readFile(p, 'utf8').catch(() => undefined);
    verify(await text(rf.stdout), await text(f.result), await text(rf.stderr), o.expected);
    return { wallMs: t1 - t0, firstOutputMs: watch.firstOutputMs(), resultToExitMs: await resultToExit(rf.stdout, t1) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** (b) `claude -p` in a local bubblewrap sandbox, started exactly as runAgent starts it. */
export async function runInSandbox(o: {
  provider: LocalSandboxProvider;
  security: SandboxSecurity;
  prompt: string;
  expected: unknown;
}): Promise<RawOutcome> {
  const c0 = nowMs();
  const sandbox: LocalSandbox = await o.provider.create({ metadata: { owner: 'ccflow-bench' }, network: 'model', task: BASELINE_TASK });
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

/** The task baseline sandboxes are attributed to (the proxy's records). */
const BASELINE_TASK = { namespace: 'default', workflowId: 'bench-baseline' };

async function runJailed(sandbox: LocalSandbox, o: { security: SandboxSecurity; prompt: string; expected: unknown }): Promise<RawOutcome> {
  const f = ccflowFiles(SANDBOX_CCFLOW_DIR);
  const runDir = `${SANDBOX_CCFLOW_DIR}/runs/run-1/a1`;
  const rf = runFiles(runDir);
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
  // As the runClaude activity gets it: a token for the model proxy, reached through the
  // socket the provider binds into the jail (the jail has no other network).
  const model = o.security.modelAccess.runEnv({
    provider: 'local',
    sandboxId: sandbox.sandboxId,
    task: BASELINE_TASK,
    run: runDir,
    network: 'model',
  });
  const env = buildClaudeEnv({ home: SANDBOX_HOME, path: SANDBOX_PATH, model });
  const t0 = nowMs();
  const { pid } = await sandbox.execDetached(argv, {
    cwd: SANDBOX_WORKDIR,
    env,
    stdinPath: rf.prompt,
    stdoutPath: rf.stdout,
    stderrPath: rf.stderr,
    exitCodePath: rf.exitCode,
  });
  // This process started it: the sandbox says the moment bwrap (and so claude) ended.
  const exited = sandbox.exited(pid);
  if (exited === undefined) throw new Error('the sandbox does not know the process it just started');
  const watch = watchFirstOutput(() => sandbox.fileSize(rf.stdout), t0);
  let timer: NodeJS.Timeout | undefined;
  const exitAt = await Promise.race([
    exited.then(() => nowMs()),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('sandboxed claude did not exit within 5 minutes')), 300_000);
    }),
  ]).finally(() => {
    clearTimeout(timer);
    watch.stop();
  });
  const state = await sandbox.processState(pid, rf.exitCode);
  const text = async (p: string) => (await sandbox.readFile(p))?.toString('utf8');
  if (state.state !== 'exited' || state.exitCode !== 0) {
    const code = state.state === 'exited' ? state.exitCode : 'still running';
    throw new Error(`sandboxed claude exited with ${code}: ${(await text(rf.stderr))?.slice(-500) ?? ''}`);
  }
  verify(await text(rf.stdout), await text(f.result), await text(rf.stderr), o.expected);
  return {
    wallMs: exitAt - t0,
    firstOutputMs: watch.firstOutputMs(),
    resultToExitMs: await resultToExit(sandbox.hostPath(rf.stdout), exitAt),
  };
}

/**
 * A local provider like the worker's under `rootDir`: bubblewrap, the package's mounts, and the
 * given security's limit and disk mechanisms and proxies (its jails reach the model only
 * through its model proxy).
 */
export function benchLocalProvider(rootDir: string, security: SandboxSecurity): LocalSandboxProvider {
  return new LocalSandboxProvider({
    rootDir,
    mounts: localSandboxMounts(REPO_ROOT),
    limits: security.limits,
    disk: security.disk,
    network: security.localNetwork,
  });
}
