import { setTimeout as sleep } from 'node:timers/promises';
import { WAITING_FOR_WORKER, type CcflowClient, type ProgressEvent } from '../../client/index.js';
import type { ProgressReporter } from './tool-kit.js';
import { isSettled, progressLine } from './views.js';

/** How often a wait looks at the task (a describe and a query: cheap). */
const POLL_MS = 2_000;
/**
 * A progress notification at least this often, changed or not: Claude Code aborts a call with
 * no response or progress for its idle timeout, and checks about every 30 s.
 */
const HEARTBEAT_MS = 10_000;

export interface WaitOpts {
  timeoutMs: number;
  progress: ProgressReporter;
  /** The tool call's signal: the caller cancelled, stop waiting. */
  signal: AbortSignal;
  /** Settled early by something other than the task's status (a follow-up's own result)... */
  until?: () => boolean;
  /** ...which also cuts a pause between looks short when it resolves (it must never reject). */
  wake?: Promise<void>;
  /** Only the end of the workflow counts (not an open task's finished turn). */
  untilEnded?: boolean;
  pollMs?: number;
}

export interface WaitOutcome {
  event: ProgressEvent;
  /** The task is done (or open with its turn done); false when the time ran out first. */
  settled: boolean;
  /** Nothing picked the task up and no worker polls its queue: waiting longer would not help. */
  noWorker: boolean;
}

/** Whether a task is stuck on its queue with no worker to take it. */
export async function stuckWithoutWorker(client: CcflowClient, event: ProgressEvent): Promise<boolean> {
  if (event.type !== 'progress' || event.phase !== WAITING_FOR_WORKER) return false;
  return (await client.workers()).length === 0;
}

/**
 * Waits for a task to settle or for the time to run out, whichever comes first, sending a
 * progress notification when what it does changes and at least every HEARTBEAT_MS.
 */
export async function waitForTask(client: CcflowClient, workflowId: string, o: WaitOpts): Promise<WaitOutcome> {
  const deadline = Date.now() + o.timeoutMs;
  const totalSeconds = Math.round(o.timeoutMs / 1000);
  let lastLine = '';
  let lastSentAt = 0;
  for (;;) {
    const event = await client.status(workflowId);
    const settled = o.untilEnded ? event.type !== 'progress' : isSettled(event) || (o.until?.() ?? false);
    if (settled) return { event, settled, noWorker: false };
    if (await stuckWithoutWorker(client, event)) return { event, settled: false, noWorker: true };
    const line = progressLine(event);
    if (line !== lastLine || Date.now() - lastSentAt >= HEARTBEAT_MS) {
      await o.progress.report(line, totalSeconds);
      lastLine = line;
      lastSentAt = Date.now();
    }
    const left = deadline - Date.now();
    if (left <= 0) return { event, settled: false, noWorker: false };
    const pause = sleep(Math.min(o.pollMs ?? POLL_MS, left), undefined, { signal: o.signal });
    if (o.wake) {
      // Left behind when `wake` wins; an abort after that must not become an unhandled rejection.
      pause.catch(() => undefined);
      await Promise.race([pause, o.wake]);
    } else {
      await pause;
    }
  }
}
