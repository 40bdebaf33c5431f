import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowFailedError, type WorkflowExecutionInfo } from '@temporalio/client';
import { LocalArtifactStore } from '../artifacts/local.js';
import { ccflowHome } from '../home.js';
import { CcflowCostUsd, CcflowStatus, CcflowTurns } from '../workflows/search-attributes.js';
import type { CcflowClient } from '../client/client.js';
import { describeFailure } from '../client/client.js';
import { UsageError } from './cli.js';
import { readProgress, watchProgress } from '../client/progress.js';
import {
  LineProgressView,
  formatCost,
  formatDuration,
  redraw,
  renderEnd,
  renderFrame,
  resultValue,
  taskResultOf,
  type ProgressEvent,
} from './views/progress-view.js';
import { renderTranscript, runHeader } from './views/transcript-view.js';

/**
 * The task commands of the CLI besides `run`: watch, list, status, result, logs, cancel. Each
 * takes its arguments and a connected client and returns an exit code; output goes to the
 * streams passed in, so the commands are testable as they are.
 */

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

/** Paths under the home directory, as `~/...` (transcript locations read better). */
function tidy(line: string): string {
  const home = os.homedir();
  return home && home !== '/' ? line.split(`${home}/`).join('~/') : line;
}

function oneId(positionals: string[], command: string): string {
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError(`usage: ccflow ${command} <workflowId>`);
  return id;
}

export interface FollowOpts {
  /** Newline-delimited progress events on stdout instead of the human view. */
  json: boolean;
  /** No progress at all; only the result. */
  quiet: boolean;
  /** @default 1_000 // ms */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows a task to its end, showing progress (a redrawn block on a terminal, one line per
 * change otherwise, on stderr; or JSON lines on stdout), then prints its result. Returns the
 * exit code: 0 succeeded, 1 otherwise, 130 when interrupted (the task keeps running).
 */
export async function followTask(client: CcflowClient, workflowId: string, o: FollowOpts, io: Io = defaultIo): Promise<number> {
  const live = !o.json && !o.quiet && io.stderr.isTTY === true;
  const lines = new LineProgressView();
  let drawn = 0;
  let end: ProgressEvent | undefined;
  try {
    for await (const event of watchProgress(client.temporal, workflowId, { intervalMs: o.intervalMs, everyPoll: live, signal: o.signal })) {
      if (o.json) {
        io.stdout.write(`${JSON.stringify(event)}\n`);
      } else if (event.type === 'progress') {
        if (live) {
          const frame = renderFrame(event, Math.max(40, (io.stderr.columns ?? 100) - 1));
          io.stderr.write(redraw(drawn, frame));
          drawn = frame.length;
        } else if (!o.quiet) {
          for (const line of lines.update(event)) io.stderr.write(`${line}\n`);
        }
      }
      end = event;
    }
  } catch (err) {
    if (o.signal?.aborted) {
      io.stderr.write(`\nstopped watching; ${workflowId} keeps running (ccflow watch ${workflowId})\n`);
      return 130;
    }
    throw err;
  }
  if (!end || end.type === 'progress') return 1;
  if (o.json) return end.type === 'result' ? 0 : 1;
  if (live) io.stderr.write(redraw(drawn, []));
  if (!o.quiet) for (const line of live ? renderEnd(end) : lines.update(end)) io.stderr.write(`${tidy(line)}\n`);
  if (end.type === 'result') {
    io.stdout.write(`${JSON.stringify(resultValue(end), null, 2)}\n`);
    return 0;
  }
  if (o.quiet) io.stderr.write(`${renderEnd(end).map(tidy).join('\n')}\n`);
  return 1;
}

/** Aborts on the first Ctrl-C, so a watcher can say the task keeps running. */
export function interruptSignal(): AbortSignal {
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  return ctl.signal;
}

export async function watchCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false } },
  });
  const id = oneId(positionals, 'watch');
  return followTask(client, id, { json: values.json ?? false, quiet: values.quiet ?? false, signal: interruptSignal() }, io);
}

export async function statusCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const id = oneId(positionals, 'status');
  const event = await readProgress(client.temporal, id);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(event)}\n`);
    return 0;
  }
  const summary = await client.temporal.workflow
    .getHandle(id)
    .describe()
    .then((d) => d.staticSummary())
    .catch(() => undefined);
  const out: string[] = [];
  if (summary) out.push(`${id}: ${summary}`);
  if (event.type === 'progress') {
    out.push(...renderFrame(event, 200));
    if (event.sandboxId) out.push(`  sandbox: ${event.sandboxId}`);
    if (event.sessionId) out.push(`  session: ${event.sessionId}`);
  } else {
    out.push(...renderEnd(event));
    if (event.type === 'result') {
      out.push(JSON.stringify(resultValue(event), null, 2));
    }
  }
  io.stdout.write(`${out.map(tidy).join('\n')}\n`);
  return 0;
}

export async function resultCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const id = oneId(positionals, 'result');
  try {
    const result: unknown = await client.temporal.workflow.getHandle(id).result();
    io.stdout.write(
      values.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `${JSON.stringify((result as { result?: unknown }).result ?? result, null, 2)}\n`,
    );
    return 0;
  } catch (err) {
    io.stderr.write(`task ${id} did not succeed: ${describeFailure(err)}\n`);
    return 1;
  }
}

export async function cancelCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'no-wait': { type: 'boolean', default: false } } });
  const id = oneId(positionals, 'cancel');
  const handle = client.temporal.workflow.getHandle(id);
  const desc = await handle.describe();
  if (desc.status.name !== 'RUNNING') {
    io.stderr.write(`task ${id} is not running (${desc.status.name.toLowerCase()}); nothing to cancel\n`);
    return 1;
  }
  await handle.cancel();
  if (values['no-wait']) {
    io.stderr.write(`cancellation requested for ${id}\n`);
    return 0;
  }
  io.stderr.write(`cancellation requested for ${id}; waiting for its sandbox to be torn down\n`);
  try {
    await handle.result();
    io.stderr.write(`task ${id} finished before the cancellation took effect\n`);
    return 1;
  } catch (err) {
    const cancelled = err instanceof WorkflowFailedError && (await handle.describe()).status.name === 'CANCELLED';
    io.stderr.write(cancelled ? `cancelled ${id}\n` : `task ${id} ended: ${describeFailure(err)}\n`);
    return cancelled ? 0 : 1;
  }
}

/** `--status` values and the visibility query each one means. */
const STATUS_QUERIES: Record<string, string> = {
  // A terminated task never got to say so: Temporal's own status is the truth for these.
  running: 'ExecutionStatus="Running"',
  succeeded: `${CcflowStatus.name}="succeeded"`,
  failed: `${CcflowStatus.name}="failed"`,
  cancelled: `${CcflowStatus.name}="cancelled"`,
  terminated: 'ExecutionStatus="Terminated"',
  'timed-out': 'ExecutionStatus="TimedOut"',
};

const DISPLAY_STATUS: Record<string, string> = {
  RUNNING: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed-out',
  CONTINUED_AS_NEW: 'continued',
};

export interface ListedTask {
  workflowId: string;
  type: string;
  status: string;
  turns?: number;
  costUsd?: number;
  durationMs: number;
  startTime: string;
}

export function listedTask(w: WorkflowExecutionInfo, now = Date.now()): ListedTask {
  const turns = w.typedSearchAttributes.get(CcflowTurns);
  const cost = w.typedSearchAttributes.get(CcflowCostUsd);
  return {
    workflowId: w.workflowId,
    type: w.type,
    status: DISPLAY_STATUS[w.status.name] ?? w.status.name.toLowerCase(),
    ...(turns !== undefined ? { turns } : {}),
    ...(cost !== undefined ? { costUsd: cost } : {}),
    durationMs: (w.closeTime?.getTime() ?? now) - w.startTime.getTime(),
    startTime: w.startTime.toISOString(),
  };
}

export function renderTaskTable(tasks: readonly ListedTask[]): string[] {
  const rows = tasks.map((t) => [
    t.workflowId,
    t.status,
    t.turns !== undefined ? String(t.turns) : '-',
    t.costUsd !== undefined ? formatCost(t.costUsd) : '-',
    formatDuration(t.durationMs),
    t.startTime.replace('T', ' ').slice(0, 19),
  ]);
  const header = ['WORKFLOW ID', 'STATUS', 'TURNS', 'COST', 'DURATION', 'STARTED (UTC)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  return [header, ...rows].map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

export async function listCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      status: { type: 'string' },
      limit: { type: 'string', default: '20' },
      query: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, not "${values.limit}"`);
  const clauses = [`TaskQueue="${client.taskQueue}"`];
  if (values.status) {
    const q = STATUS_QUERIES[values.status];
    if (!q) throw new UsageError(`--status must be one of ${Object.keys(STATUS_QUERIES).join(', ')}, not "${values.status}"`);
    clauses.push(q);
  }
  if (values.query) clauses.push(`(${values.query})`);
  const tasks: ListedTask[] = [];
  for await (const w of client.temporal.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 100) })) {
    tasks.push(listedTask(w));
    if (tasks.length >= limit) break;
  }
  if (values.json) {
    for (const t of tasks) io.stdout.write(`${JSON.stringify(t)}\n`);
  } else if (tasks.length === 0) {
    io.stderr.write('no tasks\n');
  } else {
    io.stdout.write(`${renderTaskTable(tasks).join('\n')}\n`);
  }
  return 0;
}

/** Where a task's transcripts are: from its result or failure, else the local artifact store. */
async function artifactsDirOf(client: CcflowClient, id: string): Promise<string> {
  const event = await readProgress(client.temporal, id).catch(() => undefined);
  const fromResult = event?.type === 'result' ? taskResultOf(event)?.artifactsDir : undefined;
  if (fromResult) return fromResult;
  if (event?.type === 'failure' && event.artifactsDir) return event.artifactsDir;
  const root = process.env.CCFLOW_ARTIFACT_DIR ?? path.join(ccflowHome(), 'artifacts');
  return new LocalArtifactStore(root).location(id);
}

async function transcriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries
    .map(String)
    .filter((f) => f.endsWith('transcript.jsonl'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export async function logsCommand(args: string[], client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { dir: { type: 'string' }, raw: { type: 'boolean', default: false } },
  });
  const id = oneId(positionals, 'logs');
  const dir = values.dir ?? (await artifactsDirOf(client, id));
  const files = await transcriptFiles(dir);
  if (files.length === 0) {
    io.stderr.write(
      `no transcripts for ${id} in ${dir}. They are saved when the sandbox is torn down, on the worker's ` +
        `machine (CCFLOW_ARTIFACT_DIR there); pass --dir if they are elsewhere.\n`,
    );
    return 1;
  }
  for (const f of files) {
    const bytes = await readFile(path.join(dir, f));
    if (values.raw) {
      io.stdout.write(bytes);
      continue;
    }
    const prompt = await readFile(path.join(dir, path.dirname(f), 'prompt.txt'), 'utf8').catch(() => undefined);
    const lines = [runHeader(f)];
    if (prompt)
      lines.push(
        ...prompt
          .trim()
          .split('\n')
          .map((l) => `prompt │ ${l}`),
      );
    lines.push(...renderTranscript(bytes), '');
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}
