import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { describeFailure, locateArtifacts, type CcflowClient, type ListOpts, type ListedTask } from '../../client/index.js';
import { watchProgress } from '../../client/progress.js';
import { EXIT } from '../errors.js';
import { defaultIo, interruptSignal, tidy, type Io } from '../output.js';
import {
  LineProgressView,
  formatCost,
  formatDuration,
  redraw,
  renderEnd,
  renderFrame,
  resultValue,
  type ProgressEvent,
} from '../views/progress-view.js';
import { renderTranscript, runHeader } from '../views/transcript-view.js';

/**
 * The commands that look at tasks: watch, status, result, cancel, list, logs. Each takes its
 * parsed arguments, a connected client and where to write, and returns an exit code, so the
 * commands are testable as they are.
 */

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

export async function watchCommand(
  id: string,
  o: { json?: boolean; quiet?: boolean },
  client: CcflowClient,
  io: Io = defaultIo,
): Promise<number> {
  return followTask(client, id, { json: o.json ?? false, quiet: o.quiet ?? false, signal: interruptSignal() }, io);
}

export async function statusCommand(id: string, o: { json?: boolean }, client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const event = await client.status(id);
  if (o.json) {
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

export async function resultCommand(id: string, o: { json?: boolean }, client: CcflowClient, io: Io = defaultIo): Promise<number> {
  try {
    const result: unknown = await client.temporal.workflow.getHandle(id).result();
    io.stdout.write(
      o.json ? `${JSON.stringify(result, null, 2)}\n` : `${JSON.stringify((result as { result?: unknown }).result ?? result, null, 2)}\n`,
    );
    return 0;
  } catch (err) {
    io.stderr.write(`task ${id} did not succeed: ${describeFailure(err)}\n`);
    return EXIT.failed;
  }
}

export async function cancelCommand(id: string, o: { wait?: boolean }, client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const handle = client.temporal.workflow.getHandle(id);
  const desc = await handle.describe();
  if (desc.status.name !== 'RUNNING') {
    io.stderr.write(`task ${id} is not running (${desc.status.name.toLowerCase()}); nothing to cancel\n`);
    return 1;
  }
  await handle.cancel();
  if (o.wait === false) {
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

export async function listCommand(o: ListOpts & { json?: boolean }, client: CcflowClient, io: Io = defaultIo): Promise<number> {
  const tasks = await client.list(o);
  if (o.json) {
    for (const t of tasks) io.stdout.write(`${JSON.stringify(t)}\n`);
  } else if (tasks.length === 0) {
    io.stderr.write('no tasks\n');
  } else {
    io.stdout.write(`${renderTaskTable(tasks).join('\n')}\n`);
  }
  return 0;
}

/** Where a task's transcripts are: from its result or failure, else the local artifact store. */
async function transcriptFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries
    .map(String)
    .filter((f) => f.endsWith('transcript.jsonl'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

export async function logsCommand(
  id: string,
  o: { dir?: string; raw?: boolean },
  client: CcflowClient,
  io: Io = defaultIo,
): Promise<number> {
  const dir = o.dir ?? (await locateArtifacts(client.temporal, id));
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
    if (o.raw) {
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
