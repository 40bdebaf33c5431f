/**
 * Overhead per task: the same scripted scenario run three ways, interleaved so drift hits all
 * of them alike: (a) raw `claude -p`, (b) raw `claude -p` in the bubblewrap sandbox, (c) a full
 * agentTask through Temporal. (c) is then taken apart with its workflow history and the
 * worker's own timings.
 */
import path from 'node:path';
import type { TaskResult } from '../src/schemas/task-spec.js';
import { taskPromptText } from '../src/domain/prompts.js';
import { BENCH_API_KEY, TASK_QUEUE, type BenchEnv } from './lib/env.js';
import { fetchHistory, timeline, type ActivitySpan, type Timeline } from './lib/history.js';
import { mean, percentile, summarize, type Summary } from './lib/stats.js';
import type { WorkerProcess } from './lib/worker-handle.js';
import { benchLocalProvider, runInSandbox, runPlain, type RawOutcome } from './raw.js';
import { OVERHEAD_PROMPT, OVERHEAD_RESULT } from './scenario.js';
import { nowMs, type TimingRecord } from './timing-provider.js';

export interface Segment {
  /** Stable across runs of the same workflow shape, e.g. `runClaude.queue`. */
  key: string;
  label: string;
  ms: number;
}

export interface TaskRun {
  wallMs: number;
  /** The wall time cut into consecutive parts, in the order they happen; they add up to wallMs. */
  segments: Segment[];
  /** Worker-side detail. */
  worker: {
    sandboxCreateMs?: number;
    filesWrittenMs?: number;
    execDetachedMs?: number;
    firstOutputMs?: number;
    resultToExitMs?: number;
    exitNoticedMs?: number;
    artifactSaveMs?: number;
    sandboxDestroyMs?: number;
    polls?: number;
  };
  problems: string[];
}

export interface OverheadResult {
  iterations: number;
  a: RawOutcome[];
  b: RawOutcome[];
  c: TaskRun[];
  summary: {
    a: Summary;
    b: Summary;
    c: Summary;
    ratioCA: number;
    ratioCB: number;
    diffCB: number;
    firstOutput: { a: number; b: number; c: number };
    segments: Array<{ key: string; label: string; p50: number; mean: number }>;
    /** The parts outside claude, added up by cause (per run, then summarized). */
    causes: Array<{ cause: string; p50: number; mean: number }>;
    /** All parts outside claude, added up: ccflow's overhead measured directly, without claude's run-to-run spread. */
    overheadMs: { p50: number; mean: number };
    worker: Record<keyof TaskRun['worker'], number>;
    /** The largest single part that is not claude itself. */
    biggestPart: { key: string; label: string; meanMs: number };
    /** The largest cause. */
    biggestCost: { cause: string; meanMs: number; shareOfOverhead: number };
    bSandboxCreateMs: number;
    bSandboxDestroyMs: number;
  };
}

/** The part of runClaude that is claude itself; (b) measures the same span. */
export const CLAUDE_SEGMENT = 'runClaude.claude';

/** What a part of an agentTask's time is spent on, for adding parts up. */
export function causeOf(key: string): string {
  if (key.startsWith('wft.') || key === 'start' || key === 'result') return 'Temporal: workflow tasks and client round trips';
  if (key.endsWith('.queue')) return 'Temporal: activity dispatch (scheduled → started)';
  if (key.endsWith('.poll')) return 'noticing a process exit (woken by the exit, or the next poll)';
  const activity = key.split('.')[0]?.replace(/#\d+$/, '') ?? key;
  return `${activity}: its own work`;
}

/**
 * Cuts one agentTask's wall time into consecutive parts with its history (activity scheduled /
 * started / completed) and the worker's records. Generic over the workflow's activities, so it
 * follows the workflow as it changes.
 */
export function breakdown(c0: number, c1: number, tl: Timeline, recs: TimingRecord[]): TaskRun {
  const segments: Segment[] = [];
  const seen = new Map<string, number>();
  const push = (key: string, label: string, from: number | undefined, to: number | undefined) => {
    if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to)) return;
    segments.push({ key, label, ms: to - from });
  };
  const within = (sp: ActivitySpan, op: TimingRecord['op']) =>
    recs.find(
      (r) => r.op === op && sp.started !== undefined && sp.completed !== undefined && r.t0 >= sp.started - 2 && r.t0 <= sp.completed + 2,
    );

  push('start', 'client start RPC → WorkflowExecutionStarted', c0, tl.workflowStarted);
  let prev = tl.workflowStarted;
  tl.activities.forEach((sp, i) => {
    const n = (seen.get(sp.name) ?? 0) + 1;
    seen.set(sp.name, n);
    const name = n > 1 ? `${sp.name}#${n}` : sp.name;
    push(
      `wft.${name}`,
      i === 0 ? `first workflow task (validateTaskSpec local activity) → ${name} scheduled` : `workflow task → ${name} scheduled`,
      prev,
      sp.scheduled,
    );
    push(`${name}.queue`, `${name}: scheduled → started`, sp.scheduled, sp.started);
    // An activity that runs a process in the sandbox (claude; tar for saveSession) is cut at
    // the spawn, the exit (when the sandbox saw its process end) and the moment the activity
    // noticed the exit (its wait is woken by that exit, or its next poll).
    const exec = within(sp, 'execDetached');
    const exit = within(sp, 'exitSeen');
    const claude = sp.name === 'runClaude';
    if (exec && exit?.fileTime !== undefined) {
      push(
        `${name}.prep`,
        claude ? `${name}: started → claude spawned (connect, write schema/mcp/prompt)` : `${name}: started → process spawned`,
        sp.started,
        exec.t0,
      );
      if (claude)
        push(
          n > 1 ? `${CLAUDE_SEGMENT}#${n}` : CLAUDE_SEGMENT,
          'claude in bwrap: execDetached → process exit (what (b) measures)',
          exec.t0,
          exit.fileTime,
        );
      else push(`${name}.process`, `${name}: jailed process, execDetached → exit`, exec.t0, exit.fileTime);
      push(`${name}.poll`, `${name}: process exit → exit noticed`, exit.fileTime, exit.t1);
      push(
        `${name}.finish`,
        claude ? `${name}: exit noticed → completed (last drain, completion RPC)` : `${name}: exit noticed → completed`,
        exit.t1,
        sp.completed,
      );
    } else {
      push(`${name}.exec`, `${name}: started → completed`, sp.started, sp.completed);
    }
    prev = sp.completed ?? prev;
  });
  push('wft.complete', 'workflow task → WorkflowExecutionCompleted', prev, tl.workflowClosed);
  push('result', 'WorkflowExecutionCompleted → client has the result', tl.workflowClosed, c1);

  const rc = tl.activities.find((a) => a.name === 'runClaude');
  const ds = tl.activities.find((a) => a.name === 'destroySandbox');
  const exec = rc ? within(rc, 'execDetached') : undefined;
  const exit = rc ? within(rc, 'exitSeen') : undefined;
  const create = recs.find((r) => r.op === 'create');
  const destroyRec = recs.find((r) => r.op === 'destroy');
  const preExecWrites = recs.filter(
    (r) => r.op === 'writeFile' && rc?.started !== undefined && exec && r.t0 >= rc.started - 2 && r.t1 <= exec.t0,
  );
  // destroySandbox connects, streams the transcripts to the artifact store (sized and
  // streamed reads), revokes the sandbox's tokens, then has the provider destroy it.
  const archiveFrom = ds ? within(ds, 'connect') : undefined;
  const result = rc ? within(rc, 'resultSeen') : undefined;
  const firstOutput = rc ? within(rc, 'firstOutput') : undefined;
  const d = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
  return {
    wallMs: c1 - c0,
    segments,
    worker: {
      sandboxCreateMs: create ? create.t1 - create.t0 : undefined,
      filesWrittenMs: preExecWrites.reduce((sum, r) => sum + (r.t1 - r.t0), 0),
      execDetachedMs: exec ? exec.t1 - exec.t0 : undefined,
      firstOutputMs: d(exec?.t0, firstOutput?.t1),
      resultToExitMs: d(result?.fileTime, exit?.fileTime),
      exitNoticedMs: d(exit?.fileTime, exit?.t1),
      artifactSaveMs: d(archiveFrom?.t1, destroyRec?.t0),
      sandboxDestroyMs: destroyRec ? destroyRec.t1 - destroyRec.t0 : undefined,
      polls: exit?.polls,
    },
    problems: tl.activityProblems,
  };
}

/** Runs one agentTask of the overhead scenario and takes it apart. */
export async function runAgentTask(env: BenchEnv, worker: WorkerProcess, workflowId: string): Promise<TaskRun> {
  const c0 = nowMs();
  const handle = await env.client.workflow.start('agentTask', {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [{ prompt: OVERHEAD_PROMPT }],
  });
  const result = (await handle.result()) as TaskResult;
  const c1 = nowMs();
  if (JSON.stringify(result.result) !== JSON.stringify(OVERHEAD_RESULT)) {
    throw new Error(`agentTask ${workflowId} returned an unexpected result: ${JSON.stringify(result.result)}`);
  }
  const tl = timeline(await fetchHistory(env.client, workflowId));
  const records = await worker.timings();
  const sandboxId = records.find((r) => r.op === 'create' && r.workflowId === workflowId)?.sandboxId;
  return breakdown(
    c0,
    c1,
    tl,
    records.filter((r) => r.sandboxId === sandboxId),
  );
}

export async function overheadBench(
  env: BenchEnv,
  worker: WorkerProcess,
  o: { iterations: number; log: (s: string) => void },
): Promise<OverheadResult> {
  const prompt = taskPromptText(OVERHEAD_PROMPT);
  const model = { baseUrl: env.model.url, apiKey: BENCH_API_KEY };
  const provider = benchLocalProvider(path.join(env.dir, 'baseline-sandboxes'), env.security);
  const plainRoot = path.join(env.dir, 'plain');
  const one = async (i: number) => ({
    a: await runPlain({ root: plainRoot, prompt, model, expected: OVERHEAD_RESULT }),
    b: await runInSandbox({ provider, security: env.security, prompt, expected: OVERHEAD_RESULT }),
    c: await runAgentTask(env, worker, `bench-overhead-${i}`),
  });

  // One untimed round first: page cache, the CLI's first start, Temporal's first tasks.
  await one(-1);
  const a: RawOutcome[] = [];
  const b: RawOutcome[] = [];
  const c: TaskRun[] = [];
  for (let i = 0; i < o.iterations; i++) {
    const r = await one(i);
    a.push(r.a);
    b.push(r.b);
    c.push(r.c);
    o.log(
      `  overhead ${i + 1}/${o.iterations}: a ${r.a.wallMs.toFixed(0)} ms, b ${r.b.wallMs.toFixed(0)} ms, c ${r.c.wallMs.toFixed(0)} ms`,
    );
  }

  const sa = summarize(a.map((r) => r.wallMs));
  const sb = summarize(b.map((r) => r.wallMs));
  const sc = summarize(c.map((r) => r.wallMs));
  // Keys in order of first appearance; a run missing a part counts as 0 ms there.
  const keys = new Map<string, string>();
  for (const run of c) for (const seg of run.segments) if (!keys.has(seg.key)) keys.set(seg.key, seg.label);
  const segments = [...keys].map(([key, label]) => {
    const values = c.map((r) => r.segments.find((x) => x.key === key)?.ms ?? 0);
    return { key, label, p50: percentile(values, 50), mean: mean(values) };
  });
  const outside = (run: TaskRun) => run.segments.filter((x) => !x.key.startsWith(CLAUDE_SEGMENT));
  const causeNames = [...new Set(c.flatMap((run) => outside(run).map((x) => causeOf(x.key))))];
  const causes = causeNames
    .map((cause) => {
      const perRun = c.map((run) =>
        outside(run)
          .filter((x) => causeOf(x.key) === cause)
          .reduce((sum, x) => sum + x.ms, 0),
      );
      return { cause, p50: percentile(perRun, 50), mean: mean(perRun) };
    })
    .sort((x, y) => y.mean - x.mean);
  const perRunOverhead = c.map((run) => outside(run).reduce((sum, x) => sum + x.ms, 0));
  const overheadMs = { p50: percentile(perRunOverhead, 50), mean: mean(perRunOverhead) };
  const biggestPart = segments.filter((x) => !x.key.startsWith(CLAUDE_SEGMENT)).sort((x, y) => y.mean - x.mean)[0];
  const biggestCause = causes[0];
  if (!biggestPart || !biggestCause) throw new Error('no segments');
  const workerKeys = Object.keys(c[0]?.worker ?? {}) as Array<keyof TaskRun['worker']>;
  const workerP50 = Object.fromEntries(
    workerKeys.map((k) => [
      k,
      percentile(
        c.map((r) => r.worker[k]).filter((v): v is number => v !== undefined),
        50,
      ),
    ]),
  ) as Record<keyof TaskRun['worker'], number>;
  const med = (xs: Array<number | undefined>) =>
    percentile(
      xs.filter((v): v is number => v !== undefined),
      50,
    );

  return {
    iterations: o.iterations,
    a,
    b,
    c,
    summary: {
      a: sa,
      b: sb,
      c: sc,
      ratioCA: sc.p50 / sa.p50,
      ratioCB: sc.p50 / sb.p50,
      diffCB: sc.p50 - sb.p50,
      firstOutput: { a: med(a.map((r) => r.firstOutputMs)), b: med(b.map((r) => r.firstOutputMs)), c: workerP50.firstOutputMs },
      segments,
      causes,
      overheadMs,
      worker: workerP50,
      biggestPart: { key: biggestPart.key, label: biggestPart.label, meanMs: biggestPart.mean },
      biggestCost: { cause: biggestCause.cause, meanMs: biggestCause.mean, shareOfOverhead: biggestCause.mean / overheadMs.mean },
      bSandboxCreateMs: med(b.map((r) => r.createMs)),
      bSandboxDestroyMs: med(b.map((r) => r.destroyMs)),
    },
  };
}
