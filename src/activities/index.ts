import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import { buildClaudeArgs, buildClaudeEnv, buildMcpConfig, type ModelEndpoint } from '../claude/args.js';
import { DEFAULT_RUN_TIMING, RunCancelled, readRunPid, runAgent, runFiles, type RunTiming } from '../claude/runner.js';
import { randomUUID } from 'node:crypto';
import { StreamJsonParser } from '../claude/stream.js';
import { RunState } from '../claude/run-state.js';
import { classifyResult } from '../claude/classify.js';
import type { ArtifactStore } from '../artifacts/types.js';
import { SandboxError, SandboxNotFoundError } from '../sandbox/errors.js';
import { type ProviderName, type Sandbox, type SandboxProvider } from '../sandbox/types.js';
import { SANDBOX_CCFLOW_DIR, SANDBOX_CLAUDE_BIN, SANDBOX_HOME, SANDBOX_NODE_BIN, SANDBOX_RESULT_SERVER, SANDBOX_WORKDIR } from '../sandbox/layout.js';
import { CcflowFailure, type FailureType } from '../domain/failures.js';
import { createPipelineActivities } from './pipeline.js';
import { createSessionActivities } from './sessions.js';
import { RunProgress } from '../schemas/run-progress.js';
import { checkResult, compileResultSchema } from '../schemas/result-schema.js';
import { TaskSpec, describeZodError } from '../schemas/task-spec.js';
import type {
  CreateSandboxInput,
  CreatedSandbox,
  DestroySandboxInput,
  DestroyedSandbox,
  FetchResultInput,
  FetchedResult,
  RunClaudeInput,
  RunClaudeOutput,
} from '../schemas/activities.js';

/** Everything activities need from the outside world, injected by the worker (or a test). */
export interface ActivityDeps {
  /** The providers this worker can use, by name; a missing one means "not configured here". */
  providers: Partial<Record<ProviderName, SandboxProvider>>;
  defaultProvider: ProviderName;
  /** The model endpoint and key, from the worker's environment only. */
  model: ModelEndpoint;
  artifacts: ArtifactStore;
  /** The task queue only this worker's host listens on (for host-bound sandboxes). */
  hostTaskQueue: string;
  /** The shared task queue (for sandboxes reachable from any worker). */
  taskQueue: string;
  timing?: Partial<RunTiming>;
}

const files = {
  schema: `${SANDBOX_CCFLOW_DIR}/result-schema.json`,
  result: `${SANDBOX_CCFLOW_DIR}/result.json`,
  attempts: `${SANDBOX_CCFLOW_DIR}/result-attempts.jsonl`,
  mcpConfig: `${SANDBOX_CCFLOW_DIR}/mcp.json`,
};
const SANDBOX_PATH = '/opt/ccflow/bin:/usr/local/bin:/usr/bin:/bin';

export const createActivities = (deps: ActivityDeps) => {
  const timing: RunTiming = { ...DEFAULT_RUN_TIMING, ...deps.timing };

  const provider = (name: ProviderName): SandboxProvider => {
    const p = deps.providers[name];
    if (!p) {
      throw ApplicationFailure.create({
        type: 'ProviderUnavailable' satisfies FailureType,
        message:
          `sandbox provider "${name}" is not configured on this worker (configured: ${Object.keys(deps.providers).join(', ') || 'none'})` +
          (name === 'e2b' ? '; set E2B_API_KEY on the worker to run tasks in E2B sandboxes' : ''),
        nonRetryable: true,
      });
    }
    return p;
  };
  const connect = (name: ProviderName, sandboxId: string): Promise<Sandbox> =>
    translate(() => provider(name).connect(sandboxId));

  return {
    // Session persistence (follow-ups, continuations) and the pipeline's spec check.
    ...createSessionActivities({ providers: deps.providers, artifacts: deps.artifacts, pollIntervalMs: timing.pollIntervalMs }),
    ...createPipelineActivities(),
    /** Validates raw workflow input against TaskSpec; the one place that may say "bad input". */
    async validateTaskSpec(input: unknown): Promise<TaskSpec> {
      const parsed = TaskSpec.safeParse(input);
      if (!parsed.success) {
        throw ApplicationFailure.create({
          type: 'InvalidTaskSpec' satisfies FailureType,
          message: describeZodError(parsed.error),
          nonRetryable: true,
        });
      }
      try {
        compileResultSchema(parsed.data.resultSchema);
      } catch (err) {
        throw ApplicationFailure.create({
          type: 'InvalidTaskSpec' satisfies FailureType,
          message: (err as Error).message,
          nonRetryable: true,
        });
      }
      return parsed.data;
    },

    async createSandbox(input: CreateSandboxInput): Promise<CreatedSandbox> {
      const name = input.provider ?? deps.defaultProvider;
      const { workflowId, runId } = Context.current().info.workflowExecution ?? { workflowId: 'unknown', runId: 'unknown' };
      const sandbox = await translate(() =>
        provider(name).create({
          metadata: { owner: 'ccflow', workflowId, runId },
          files: input.files,
          timeoutSeconds: input.timeoutSeconds,
        }),
      );
      Context.current().log.info('sandbox created', { sandboxId: sandbox.sandboxId, provider: name });
      // A bubblewrap sandbox lives on this host only: later activities must come back here.
      return {
        sandboxId: sandbox.sandboxId,
        provider: name,
        taskQueue: name === 'local' ? deps.hostTaskQueue : deps.taskQueue,
      };
    },

    async runClaude(input: RunClaudeInput): Promise<RunClaudeOutput> {
      const ctx = Context.current();
      const sandbox = await connect(input.provider, input.sandboxId);
      const baseDir = `${SANDBOX_CCFLOW_DIR}/runs/${input.runName}`;
      const reattach = await findEarlierAttempt(sandbox, baseDir, ctx.info.attempt, ctx.info.heartbeatDetails);
      const runDir = reattach?.runDir ?? `${baseDir}/a${ctx.info.attempt}`;

      await sandbox.writeFile(files.schema, JSON.stringify(input.resultSchema));
      await sandbox.writeFile(
        files.mcpConfig,
        JSON.stringify(
          buildMcpConfig({
            nodeBin: SANDBOX_NODE_BIN,
            serverPath: SANDBOX_RESULT_SERVER,
            schemaFile: files.schema,
            resultFile: files.result,
            attemptsFile: files.attempts,
          }),
        ),
      );
      const argv = buildClaudeArgs({
        claudeBin: SANDBOX_CLAUDE_BIN,
        mcpConfigPath: files.mcpConfig,
        permissionMode: input.permissionMode,
        allowedTools: input.allowedTools,
        model: input.model,
        maxTurns: input.maxTurns,
        maxBudgetUsd: input.maxBudgetUsd,
        appendSystemPrompt: input.appendSystemPrompt,
        resumeSessionId: input.resumeSessionId,
        // A retried fresh run cannot reuse the id an earlier attempt may have taken.
        newSessionId: input.resumeSessionId ? undefined : ctx.info.attempt === 1 ? input.newSessionId : randomUUID(),
      });
      const env = buildClaudeEnv({ home: SANDBOX_HOME, path: SANDBOX_PATH, model: deps.model });

      try {
        const summary = await runAgent({
          sandbox,
          runDir,
          argv,
          env,
          cwd: SANDBOX_WORKDIR,
          prompt: input.prompt,
          timing,
          signal: ctx.cancellationSignal,
          stallMs: input.stallSeconds === undefined ? undefined : input.stallSeconds * 1000,
          onProgress: (p) => ctx.heartbeat(p),
          reattach,
        });
        return { ...summary, runDir };
      } catch (err) {
        if (err instanceof RunCancelled) throw new CancelledFailure(err.message, [err.progress]);
        if (err instanceof CcflowFailure && err.type === 'ResultServerUnavailable' && ctx.info.attempt >= 2) {
          // Retried once already: a second failure is not going to heal by itself.
          throw ApplicationFailure.create({
            type: err.type,
            message: `${err.message}; it failed twice, check that the result server runs in the sandbox (node and fastmcp under /opt/ccflow)`,
            nonRetryable: true,
            details: [err.details],
          });
        }
        throw toApplicationFailure(err);
      }
    },

    async fetchResult(input: FetchResultInput): Promise<FetchedResult> {
      const sandbox = await connect(input.provider, input.sandboxId);
      const validator = compileResultSchema(input.resultSchema);
      const lastAttempt = await readLastAttempt(sandbox);
      const raw = await translate(() => sandbox.readFile(files.result));
      if (raw) {
        let value: unknown;
        try {
          value = JSON.parse(raw.toString('utf8'));
        } catch {
          return { status: 'invalid', errors: ['(result): the submitted result is not valid JSON'], lastAttempt };
        }
        const check = checkResult(validator, value);
        return check.ok ? { status: 'valid', result: check.value } : { status: 'invalid', errors: check.errors, lastAttempt: value };
      }
      // No accepted submission: if the agent tried and was refused, quote why.
      if (lastAttempt && typeof lastAttempt === 'object' && 'arguments' in lastAttempt) {
        const check = checkResult(validator, (lastAttempt as { arguments: unknown }).arguments);
        if (!check.ok) return { status: 'invalid', errors: check.errors, lastAttempt };
      }
      return { status: 'missing', lastAttempt };
    },

    /** Saves every run's transcript and stderr to the artifact store, then destroys the sandbox. */
    async destroySandbox(input: DestroySandboxInput): Promise<DestroyedSandbox> {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const p = provider(input.provider);
      let saved = 0;
      const sandbox = await p.connect(input.sandboxId).catch(() => undefined);
      if (sandbox) saved = await archiveRuns(sandbox, deps.artifacts, workflowId, input.runNames);
      await translate(() => p.destroy(input.sandboxId));
      Context.current().log.info('sandbox destroyed', { sandboxId: input.sandboxId, artifactsSaved: saved });
      return { artifactsDir: deps.artifacts.location(workflowId), artifactsSaved: saved };
    },
  };
};

export type Activities = ReturnType<typeof createActivities>;

const MAX_ATTEMPT_DIRS = 20;

/**
 * Finds the process an earlier attempt of this run started, so a retry follows it instead of
 * running the agent twice. Heartbeat details say where; the pid files cover an attempt that
 * died before its first heartbeat. A process that already ended without a usable result is
 * not reattached: the retry starts a fresh run.
 */
async function findEarlierAttempt(
  sandbox: Sandbox,
  baseDir: string,
  attempt: number,
  heartbeatDetails: unknown,
): Promise<RunProgress | undefined> {
  const fromHeartbeat = RunProgress.safeParse(heartbeatDetails);
  const candidates: RunProgress[] = [];
  if (fromHeartbeat.success && fromHeartbeat.data.sandboxId === sandbox.sandboxId) candidates.push(fromHeartbeat.data);
  for (let k = attempt - 1; k >= Math.max(1, attempt - MAX_ATTEMPT_DIRS); k--) {
    const runDir = `${baseDir}/a${k}`;
    if (candidates.some((c) => c.runDir === runDir)) continue;
    const pid = await readRunPid(sandbox, runDir);
    if (pid !== undefined) {
      const now = Date.now();
      candidates.push({ sandboxId: sandbox.sandboxId, runDir, pid, outputOffset: 0, turns: 0, costUsd: 0, pendingTools: 0, startedAt: now, updatedAt: now });
    }
  }
  for (const c of candidates) {
    if (c.pid === undefined) continue;
    const ps = await sandbox.processState(c.pid, runFiles(c.runDir).exitCode);
    if (ps.state === 'running') return c;
    // Ended. Worth following (from the start) only if it succeeded and the attempt that
    // started it died before reporting; a failed run was already reported and is retried fresh.
    if (await endedWithSuccess(sandbox, c.runDir)) return { ...c, outputOffset: 0, turns: 0 };
  }
  return undefined;
}

async function endedWithSuccess(sandbox: Sandbox, runDir: string): Promise<boolean> {
  const out = await sandbox.readFile(runFiles(runDir).stdout);
  if (!out) return false;
  const parser = new StreamJsonParser();
  const state = new RunState();
  for (const e of [...parser.push(out), ...parser.end()]) state.apply(e);
  return state.result !== undefined && classifyResult(state.result) === undefined;
}

async function readLastAttempt(sandbox: Sandbox): Promise<unknown> {
  const raw = await sandbox.readFile(files.attempts).catch(() => undefined);
  const lines = raw?.toString('utf8').trim().split('\n').filter(Boolean) ?? [];
  const last = lines.at(-1);
  if (!last) return undefined;
  try {
    return JSON.parse(last);
  } catch {
    return last.slice(0, 2_000);
  }
}

async function archiveRuns(sandbox: Sandbox, store: ArtifactStore, taskId: string, runNames: readonly string[]): Promise<number> {
  let saved = 0;
  const save = async (from: string, to: string) => {
    const content = await sandbox.readFile(from).catch(() => undefined);
    if (content === undefined) return;
    await store.put(taskId, to, content);
    saved += 1;
  };
  for (const runName of runNames) {
    for (let a = 1; a <= MAX_ATTEMPT_DIRS; a++) {
      const dir = `${SANDBOX_CCFLOW_DIR}/runs/${runName}/a${a}`;
      const f = runFiles(dir);
      if ((await sandbox.readFile(f.pid).catch(() => undefined)) === undefined) continue;
      const prefix = `runs/${runName}/a${a}`;
      await save(f.prompt, `${prefix}/prompt.txt`);
      await save(f.stdout, `${prefix}/transcript.jsonl`);
      await save(f.stderr, `${prefix}/stderr.log`);
      await save(f.exitCode, `${prefix}/exit-code`);
    }
  }
  await save(files.result, 'result.json');
  await save(files.attempts, 'result-attempts.jsonl');
  return saved;
}

/** Runs a provider call, turning its errors into Temporal failures with the right retry flag. */
async function translate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err);
  }
}

function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof CcflowFailure) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: !err.retryable,
      details: [err.details],
    });
  }
  if (err instanceof SandboxNotFoundError) {
    return ApplicationFailure.create({ type: 'SandboxLost' satisfies FailureType, message: err.message });
  }
  if (err instanceof SandboxError && !err.retryable) {
    return ApplicationFailure.create({
      type: 'SandboxUnavailable' satisfies FailureType,
      message: err.message,
      nonRetryable: true,
    });
  }
  return err;
}
