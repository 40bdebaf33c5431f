import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox } from '../sandbox/types.js';
import { readBounded, readTail } from '../sandbox/bounded.js';
import { SandboxNotFoundError } from '../sandbox/errors.js';
import { CcflowFailure, type FailureDetails } from '../domain/failures.js';
import type { RunProgress } from '../schemas/run-progress.js';
import { StreamJsonParser } from './stream.js';
import type { StreamEvent } from './events.js';
import { capText } from '../schemas/live-events.js';
import { RunState } from './run-state.js';
import { classifyRunEnd, type DeferredCall } from './deferred.js';
import { SUBMIT_RESULT_TOOL } from './args.js';
import { tokenUsage } from './usage.js';
import type { TokenUsage } from '../schemas/activities.js';

/** Files of one agent run inside the sandbox. */
export function runFiles(runDir: string) {
  return {
    prompt: `${runDir}/prompt.txt`,
    stdout: `${runDir}/stdout.jsonl`,
    stderr: `${runDir}/stderr.log`,
    exitCode: `${runDir}/exit-code`,
    pid: `${runDir}/pid`,
    /** What the approval hook reads (rules, decisions), where it parks a call, and its log. */
    approvals: `${runDir}/approvals.json`,
    approvalParked: `${runDir}/approval-parked.json`,
    approvalLog: `${runDir}/approval-hook.jsonl`,
  };
}

export interface RunTiming {
  /**
   * How often the output file is polled.
   * @default 100 // ms
   */
  pollIntervalMs: number;
  /**
   * How often progress is reported (the activity heartbeats on each report).
   * @default 1_000 // ms
   */
  progressIntervalMs: number;
  /**
   * How long the CLI may linger after its `result` line before it is killed.
   * @default 5_000 // ms
   */
  resultGraceMs: number;
}

export const DEFAULT_RUN_TIMING: RunTiming = { pollIntervalMs: 100, progressIntervalMs: 1_000, resultGraceMs: 5_000 };

export interface AgentRunRequest {
  sandbox: Sandbox;
  runDir: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  prompt: string;
  timing: RunTiming;
  signal: AbortSignal;
  /** No stream output for this long while no tool runs means the agent stalled. */
  stallMs?: number;
  onProgress: (p: RunProgress) => void;
  /** Every stream-json event, as it is read (live relays; must not throw or block). */
  onEvent?: (e: StreamEvent) => void;
  /**
   * Whether the run hands its result back through the result MCP server, so an init line
   * without it is fatal. False for a run whose final message is its result.
   * @default true
   */
  expectResultServer?: boolean;
  /**
   * How much of the final message the summary keeps (it travels in workflow history).
   * @default 500
   */
  resultTextChars?: number;
  /**
   * Progress of an earlier attempt whose process may still run: follow it (from its output
   * offset) instead of starting the agent again. `runDir` must be the earlier attempt's.
   */
  reattach?: RunProgress;
}

export interface AgentRunSummary {
  sessionId: string;
  numTurns: number;
  costUsd: number;
  usage: TokenUsage;
  subtype: string;
  resultText?: string;
  durationMs: number;
  reattached: boolean;
  garbageLines: number;
  /** The run ended holding this call for a human: it neither succeeded nor failed, it waits. */
  deferred?: DeferredCall;
  /** The agent's latest text (cut short). */
  lastText?: string;
}

const READ_CHUNK_BYTES = 1 << 20;
const NEVER = new Promise<never>(() => undefined);

/** Thrown when the run was cancelled; its process group is already killed. Carries the progress so far. */
export class RunCancelled extends Error {
  constructor(readonly progress: RunProgress) {
    super('agent run cancelled; its processes were killed');
    this.name = 'RunCancelled';
  }
}
const STDERR_TAIL_BYTES = 4_000;

/**
 * Runs (or reattaches to) one `claude -p` process in a sandbox and follows its stream-json
 * output until the `result` line. Temporal-free: the activity wraps it with heartbeats.
 */
export async function runAgent(req: AgentRunRequest): Promise<AgentRunSummary> {
  const { sandbox, timing, signal } = req;
  const files = runFiles(req.runDir);
  const startedAt = Date.now();

  let pid: number;
  const previous = req.reattach;
  if (previous?.pid !== undefined) {
    pid = previous.pid;
  } else {
    await sandbox.writeFile(files.prompt, req.prompt);
    const handle = await sandbox.execDetached(req.argv, {
      cwd: req.cwd,
      env: req.env,
      stdinPath: files.prompt,
      stdoutPath: files.stdout,
      stderrPath: files.stderr,
      exitCodePath: files.exitCode,
    });
    pid = handle.pid;
    // Recorded in the sandbox too, so an attempt that dies before its first heartbeat
    // can still be found and reattached instead of starting the agent twice.
    await sandbox.writeFile(files.pid, String(pid));
  }

  const parser = new StreamJsonParser(previous?.outputOffset ?? 0);
  let readOffset = parser.offset;
  const state = new RunState();
  if (previous) {
    state.sessionId = previous.sessionId;
    state.turns = previous.turns;
  }
  const apply = (event: StreamEvent): void => {
    state.apply(event);
    req.onEvent?.(event);
  };
  let lastReport = 0;
  let lastLimitCheck = 0;
  let lastOutputAt = Date.now();
  let resultSeenAt: number | undefined;
  let exited = false;

  const progress = (): RunProgress => ({
    sandboxId: sandbox.sandboxId,
    runDir: req.runDir,
    pid,
    outputOffset: parser.offset,
    sessionId: state.sessionId,
    turns: state.turns,
    costUsd: state.result?.total_cost_usd ?? 0,
    lastTool: state.lastTool,
    lastText: state.lastText,
    pendingTools: state.pendingTools,
    resultServer: state.resultServerStatus,
    startedAt: previous?.startedAt ?? startedAt,
    updatedAt: Date.now(),
  });
  req.onProgress(progress());

  // Limit counters grow over the sandbox's life: this run answers for what it adds.
  const baseline = new Map((await sandbox.limitHits()).map((h) => [h.limit, h.count]));
  /** A limit the sandbox ran into ends the run: a fork bomb or a full disk is not a stall. */
  const stopAtLimit = async (): Promise<void> => {
    const hits = (await sandbox.limitHits()).filter((h) => h.count > (baseline.get(h.limit) ?? 0));
    if (hits.length === 0) return;
    await sandbox.kill(pid, 'SIGKILL');
    const names = [...new Set(hits.map((h) => h.limit))];
    throw new CcflowFailure(
      'SandboxLimitExceeded',
      `the sandbox hit its ${names.join(' and ')} limit${names.length > 1 ? 's' : ''}: ${hits.map((h) => h.detail).join('; ')}`,
      { ...(await failureDetails()), limits: names },
    );
  };

  const failureDetails = async (): Promise<FailureDetails> => ({
    stderrTail: await tail(sandbox, files.stderr),
    recentEvents: [...state.recentEvents],
    sessionId: state.sessionId,
  });

  try {
    for (;;) {
      if (signal.aborted) {
        await sandbox.kill(pid, 'SIGKILL');
        throw new RunCancelled(progress());
      }
      // Drain everything new before deciding anything, so no line is missed at exit.
      for (;;) {
        const chunk = await sandbox.readFileFrom(files.stdout, readOffset, READ_CHUNK_BYTES);
        if (chunk.length === 0) break;
        readOffset += chunk.length;
        lastOutputAt = Date.now();
        for (const event of parser.push(chunk)) apply(event);
      }
      const resultServerProblem =
        req.expectResultServer !== false && state.init && !state.result ? describeResultServerProblem(state) : undefined;
      if (resultServerProblem) {
        await sandbox.kill(pid, 'SIGKILL');
        throw new CcflowFailure('ResultServerUnavailable', resultServerProblem, await failureDetails());
      }
      if (exited) break;

      const now = Date.now();
      if (now - lastReport >= timing.progressIntervalMs) {
        lastReport = now;
        req.onProgress(progress());
      }
      if (now - lastLimitCheck >= timing.progressIntervalMs) {
        lastLimitCheck = now;
        await stopAtLimit();
      }
      if (state.result && resultSeenAt === undefined) resultSeenAt = now;
      // Silence while a tool runs is normal (a long build); silence while waiting on nothing is not.
      if (req.stallMs !== undefined && !state.result && state.pendingTools === 0 && now - lastOutputAt > req.stallMs) {
        await sandbox.kill(pid, 'SIGKILL');
        throw new CcflowFailure(
          'AgentStalled',
          `no output from the agent for ${Math.round((now - lastOutputAt) / 1000)} s while no tool was running`,
          await failureDetails(),
        );
      }

      const ps = await sandbox.processState(pid, files.exitCode);
      if (ps.state === 'exited') {
        exited = true; // one more drain pass picks up the last lines
        continue;
      }
      if (resultSeenAt !== undefined && now - resultSeenAt > timing.resultGraceMs) {
        // The CLI has been seen to hang after its result line: the result is what counts.
        await sandbox.kill(pid, 'SIGKILL');
        break;
      }
      // Woken by the exit itself where the provider can tell (the worker started the process).
      await Promise.race([sleep(timing.pollIntervalMs, undefined, { signal }).catch(() => undefined), sandbox.exited?.(pid) ?? NEVER]);
    }
  } catch (err) {
    if (err instanceof SandboxNotFoundError) {
      throw new CcflowFailure('SandboxLost', `sandbox ${sandbox.sandboxId} disappeared while the agent ran`, {
        recentEvents: [...state.recentEvents],
        sessionId: state.sessionId,
      });
    }
    throw err;
  }

  for (const event of parser.end()) apply(event);
  req.onProgress(progress());

  const result = state.result;
  // A limit hit since the last look (an OOM kill of the agent itself, a disk that filled just
  // before the end) ends the run as surely as one seen while it ran: the policy is the same
  // whether or not the agent got to submit first.
  await stopAtLimit();
  if (!result) {
    throw new CcflowFailure('AgentFailed', 'claude exited without a result line', await failureDetails());
  }
  const end = classifyRunEnd(result);
  if (end.kind === 'failed') throw new CcflowFailure(end.type, end.message, await failureDetails());

  return {
    sessionId: result.session_id,
    numTurns: result.num_turns,
    costUsd: result.total_cost_usd,
    usage: tokenUsage(result.usage),
    subtype: result.subtype,
    resultText: capText(result.result, req.resultTextChars ?? 500),
    durationMs: Date.now() - startedAt,
    reattached: previous?.pid !== undefined,
    garbageLines: state.garbageLines,
    ...(end.kind === 'deferred' ? { deferred: end.call } : {}),
    ...(state.lastText !== undefined ? { lastText: state.lastText } : {}),
  };
}

/** Why the agent cannot hand back a result, judged from the init line; undefined when it can. */
function describeResultServerProblem(state: RunState): string | undefined {
  if (state.resultServerStatus !== 'connected') {
    return `the result MCP server did not connect (status: ${state.resultServerStatus ?? 'not listed'})`;
  }
  if (!state.resultToolListed) {
    return `the result tool ${SUBMIT_RESULT_TOOL} was not offered to the agent: the init line lists no such tool (tools: ${(state.init?.tools ?? []).join(', ') || 'none'})`;
  }
  return undefined;
}

/** The pid an earlier attempt recorded in `runDir`, if it started a process there. */
export async function readRunPid(sandbox: Sandbox, runDir: string): Promise<number | undefined> {
  const path = runFiles(runDir).pid;
  // The agent can write this file too: read a few bytes; the provider only ever signals or
  // follows a pid it recorded starting itself.
  const raw = await readBounded(sandbox, path, 32).catch(() => undefined);
  if (!raw) return undefined;
  const pid = Number.parseInt(raw.toString('utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The last few KB of a file, as text (read by offset, never whole); empty when there is none. */
export async function tail(sandbox: Sandbox, path: string, bytes = STDERR_TAIL_BYTES): Promise<string> {
  const end = await readTail(sandbox, path, bytes).catch(() => undefined);
  return end === undefined ? '' : end.toString('utf8');
}
