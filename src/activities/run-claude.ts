import { randomUUID } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import { buildClaudeArgs, buildClaudeEnv, buildMcpConfig } from '../claude/args.js';
import { classifyRunEnd } from '../claude/deferred.js';
import { RunState } from '../claude/run-state.js';
import { RunCancelled, readRunPid, runAgent, runFiles, type RunTiming } from '../claude/runner.js';
import { StreamJsonParser } from '../claude/stream.js';
import { CcflowFailure, isRetryable } from '../domain/failures.js';
import {
  SANDBOX_CLAUDE_BIN,
  SANDBOX_FILES,
  SANDBOX_HOME,
  SANDBOX_NODE_BIN,
  SANDBOX_PATH,
  SANDBOX_RESULT_SERVER,
  SANDBOX_WORKDIR,
} from '../sandbox/layout.js';
import { readHead } from '../sandbox/bounded.js';
import type { Sandbox } from '../sandbox/types.js';
import type { RunClaudeInput, RunClaudeOutput } from '../schemas/activities.js';
import { RunProgress } from '../schemas/run-progress.js';
import type { RunUsage } from '../proxy/state.js';
import type { AgentSlots } from './agent-slots.js';
import type { ActivityDeps } from './deps.js';
import type { StreamEvent } from '../claude/events.js';
import { liveBodies } from '../claude/live.js';
import { LIVE_EVENTS_VERSION, type LiveSink } from '../schemas/live-events.js';
import { MAX_TEXT_RESULT_CHARS } from '../schemas/task-spec.js';
import { prepareApprovals, summarizeDeferred } from './approvals.js';
import { applicationFailure, toApplicationFailure } from './failures.js';
import { MAX_ARCHIVED_FILE_BYTES, MAX_ATTEMPT_DIRS } from './lifecycle.js';
import type { SandboxAccess } from './sandboxes.js';
import { currentTask } from './task.js';

/** The agent's CPU priority below the worker's (`nice` is in every sandbox's /usr/bin). */
const AGENT_NICE = ['/usr/bin/nice', '-n', '10'];

/** The agent run: one `claude -p` process in the sandbox, followed (or reattached to) until its result. */
export const createRunClaudeActivity = (deps: ActivityDeps, sandboxes: SandboxAccess, timing: RunTiming, slots: AgentSlots) => ({
  async runClaude(input: RunClaudeInput): Promise<RunClaudeOutput> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const sandbox = await sandboxes.connect(input.provider, input.sandboxId);
    const baseDir = `${SANDBOX_FILES.runs}/${input.runName}`;
    const reattach = await findEarlierAttempt(sandbox, baseDir, attempt, ctx.info.heartbeatDetails);
    const runDir = reattach?.runDir ?? `${baseDir}/a${attempt}`;

    // A text result is the final message: no result server, no result tool.
    const submits = input.resultMode !== 'text';
    if (submits) {
      await sandbox.writeFile(SANDBOX_FILES.resultSchema, JSON.stringify(input.resultSchema));
      const mcpConfig = buildMcpConfig({
        nodeBin: SANDBOX_NODE_BIN,
        serverPath: SANDBOX_RESULT_SERVER,
        schemaFile: SANDBOX_FILES.resultSchema,
        resultFile: SANDBOX_FILES.result,
        attemptsFile: SANDBOX_FILES.attempts,
      });
      await sandbox.writeFile(SANDBOX_FILES.mcpConfig, JSON.stringify(mcpConfig));
    }
    const live = liveFeed(deps.live, ctx.info.workflowExecution?.workflowId, input.liveKey);
    const settings = input.approval ? await prepareApprovals(sandbox, input.approval, runDir, reattach === undefined) : undefined;
    const argv = buildClaudeArgs({
      claudeBin: SANDBOX_CLAUDE_BIN,
      ...(submits ? { mcpConfigPath: SANDBOX_FILES.mcpConfig } : {}),
      includePartialMessages: live !== undefined,
      permissionMode: input.permissionMode,
      allowedTools: input.allowedTools,
      model: input.model,
      maxTurns: input.maxTurns,
      maxBudgetUsd: input.maxBudgetUsd,
      appendSystemPrompt: input.appendSystemPrompt,
      resumeSessionId: input.resumeSessionId,
      // A retried fresh run cannot reuse the id an earlier attempt may have taken.
      newSessionId: input.resumeSessionId ? undefined : attempt === 1 ? input.newSessionId : randomUUID(),
      settings,
    });
    const network = input.network ?? 'model';
    // The run's token is named by its directory, unique per run and attempt: the proxy meters
    // each on its own, and refuses it once what the task had left (maxBudgetUsd) is spent.
    const modelEnv = deps.model.runEnv({
      provider: input.provider,
      sandboxId: input.sandboxId,
      task: currentTask(),
      run: runDir,
      budgetUsd: input.maxBudgetUsd,
      network,
    });
    const env = buildClaudeEnv({ home: SANDBOX_HOME, path: SANDBOX_PATH, model: modelEnv });

    // Heartbeats while waiting carry the previous attempt's details on, for a reattach later.
    const release = await slots
      .acquire({ signal: ctx.cancellationSignal, onWait: () => ctx.heartbeat(ctx.info.heartbeatDetails), intervalMs: 2_000 })
      .catch((err: unknown) => {
        throw ctx.cancellationSignal.aborted ? new CancelledFailure('cancelled while waiting for an agent slot') : err;
      });
    try {
      const summary = await runAgent({
        sandbox,
        runDir,
        // Agents yield the CPU to the worker: a busy host slows agents down a little rather
        // than starve the worker's heartbeats and workflow tasks.
        argv: [...AGENT_NICE, ...argv],
        env,
        cwd: SANDBOX_WORKDIR,
        prompt: input.prompt,
        timing,
        signal: ctx.cancellationSignal,
        stallMs: input.stallSeconds === undefined ? undefined : input.stallSeconds * 1000,
        onProgress: (p) => ctx.heartbeat(p),
        reattach,
        expectResultServer: submits,
        ...(submits ? {} : { resultTextChars: MAX_TEXT_RESULT_CHARS }),
        ...(live ? { onEvent: live.onEvent } : {}),
      });
      const { deferred, lastText, ...rest } = summary;
      // A resumed claude reports the whole session's cost: this run's is what it added.
      const costs = {
        costUsd: Math.max(0, summary.costUsd - (input.resumeSessionId ? (input.sessionCostUsd ?? 0) : 0)),
        sessionCostUsd: summary.costUsd,
      };
      const usage = await deps.model.runUsage(input.sandboxId, runDir);
      if (usage !== undefined) crossCheck(usage, costs.costUsd, (m, f) => ctx.log.warn(m, f));
      const done = { ...rest, ...costs, runDir, ...(usage !== undefined ? { metered: metered(usage) } : {}) };
      if (!deferred) return done;
      return { ...done, deferred: await summarizeDeferred(sandbox, input.approval, runDir, deferred, lastText) };
    } catch (err) {
      if (err instanceof RunCancelled) throw new CancelledFailure(err.message, [err.progress]);
      // Why the run ended, from what the proxy saw rather than from the CLI's words for it.
      const usage = await deps.model.runUsage(input.sandboxId, runDir).catch(() => undefined);
      if (err instanceof CcflowFailure && usage !== undefined) {
        if (usage.budgetRefusals > 0 && err.type !== 'SandboxLimitExceeded') {
          const message = `the model proxy refused the agent's requests: the task spent its budget ($${usage.costUsd.toFixed(4)} in this run, $${(usage.budgetUsd ?? 0).toFixed(4)} left when it started)`;
          throw applicationFailure('BudgetExceeded', message, { details: { ...err.details, metered: metered(usage) }, attempt });
        }
        err.details.metered = metered(usage);
      }
      if (err instanceof CcflowFailure && err.type === 'ModelAuthFailed' && network === 'none') {
        throw applicationFailure(
          'InvalidTaskSpec',
          'network: "none" lets the agent reach nothing, its model included, so claude could not run; "model" (the default) allows the model and nothing else',
          { details: err.details },
        );
      }
      if (err instanceof CcflowFailure && err.type === 'ResultServerUnavailable' && !isRetryable(err.type, attempt)) {
        // The table's one retry is used up: say what to check.
        const message = `${err.message}; it failed twice, check that the result server runs in the sandbox (node and fastmcp under /opt/ccflow)`;
        throw applicationFailure(err.type, message, { details: err.details, attempt });
      }
      throw toApplicationFailure(err, attempt);
    } finally {
      // Before the run reports its end, so a relay that sees the turn end has every event (see LiveSink).
      await live?.flush();
      release();
    }
  },
});

/**
 * The run's live events: each stream-json event becomes zero or more events named by task and
 * turn; undefined when the worker publishes none or the run serves no turn.
 */
function liveFeed(sink: LiveSink | undefined, taskId: string | undefined, key: string | undefined) {
  if (!sink || taskId === undefined || key === undefined) return undefined;
  return {
    onEvent: (e: StreamEvent): void => {
      for (const { eid, body } of liveBodies(e)) sink.publish({ v: LIVE_EVENTS_VERSION, taskId, key, eid, ...body });
    },
    flush: () => sink.flush(),
  };
}

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
      candidates.push({
        sandboxId: sandbox.sandboxId,
        runDir,
        pid,
        outputOffset: 0,
        turns: 0,
        costUsd: 0,
        pendingTools: 0,
        startedAt: now,
        updatedAt: now,
      });
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
  // The transcript is the CLI's output, but the agent can write to it: a bounded head.
  const head = await readHead(sandbox, runFiles(runDir).stdout, MAX_ARCHIVED_FILE_BYTES);
  const out = head?.data;
  if (!out) return false;
  const parser = new StreamJsonParser();
  const state = new RunState();
  for (const e of [...parser.push(out), ...parser.end()]) state.apply(e);
  // A run that ended holding a call for a human ended well too: it is waiting.
  return state.result !== undefined && classifyRunEnd(state.result).kind !== 'failed';
}

function metered(u: RunUsage): NonNullable<RunClaudeOutput['metered']> {
  const last = u.upstreamErrors.filter((e) => e.retryAfterSeconds !== undefined).at(-1);
  return {
    requests: u.requests,
    costUsd: u.costUsd,
    rateLimited: u.rateLimited,
    overloaded: u.overloaded,
    ...(last?.retryAfterSeconds !== undefined ? { lastRetryAfterSeconds: last.retryAfterSeconds } : {}),
  };
}

/**
 * The proxy prices a run with the CLI's own table: a gap means a model the table lacks or a
 * request the proxy did not see, worth a line in the log.
 */
function crossCheck(u: RunUsage, cliCostUsd: number, warn: (message: string, fields: Record<string, unknown>) => void): void {
  const gap = Math.abs(u.costUsd - cliCostUsd);
  if (gap > 0.0001 + 0.01 * Math.max(u.costUsd, cliCostUsd)) {
    warn('the proxy metered another cost than the CLI reports', {
      proxyCostUsd: u.costUsd,
      cliCostUsd,
      estimated: u.estimated,
      models: u.models,
    });
  }
}
