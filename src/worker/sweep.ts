import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { archiveRuns } from '../activities/lifecycle.js';
import type { ArtifactStore } from '../artifacts/types.js';
import { SANDBOX_OWNER } from '../domain/constants.js';
import { SANDBOX_FILES } from '../sandbox/layout.js';
import type { Sandbox, SandboxInfo, SandboxProvider } from '../sandbox/types.js';
import { statusQuery } from '../workflows/messages.js';

export interface SweepOptions {
  providers: readonly SandboxProvider[];
  client: Client;
  /**
   * Where an orphan's agent transcripts are saved before it is destroyed (under its task, as
   * teardown would have), so `ccflow logs` shows what a lost host's agent did. Not saved when absent.
   */
  artifacts?: ArtifactStore;
  /**
   * Sandboxes younger than this are left alone, whatever their workflow's state: a task may
   * be between creating its sandbox and its first activity on it.
   * @default 900_000 // 15 minutes
   */
  graceMs?: number;
  dryRun?: boolean;
  now?: number;
}

export interface SweepDecision {
  sandboxId: string;
  provider: string;
  workflowId?: string;
  action: 'destroyed' | 'would-destroy' | 'kept';
  reason: string;
  /** Transcript files saved to the artifact store before destroying it. */
  archived?: number;
}

/** How long the sweeper waits for a running task to say which sandbox it works in. */
const QUERY_DEADLINE_MS = 5_000;

/** Run directories looked for in an orphan (`run-1` ... ); a task with more runs is unheard of. */
const MAX_RUNS_PROBED = 200;

/**
 * Destroys sandboxes whose owning workflow is closed or missing, or has moved on to another
 * sandbox (its host was lost, and the sandbox is what the host found when it came back), and
 * which are older than the grace period: what a crashed worker, a lost host or a failed
 * teardown left behind. Only sandboxes that carry ccflow's owner label are considered.
 */
export async function sweepOrphans(o: SweepOptions): Promise<SweepDecision[]> {
  const graceMs = o.graceMs ?? 15 * 60_000;
  const now = o.now ?? Date.now();
  const decisions: SweepDecision[] = [];
  for (const provider of o.providers) {
    for (const sb of await provider.list({ metadata: { owner: SANDBOX_OWNER } })) {
      const verdict = await judge(o.client, sb, now, graceMs);
      const base = { sandboxId: sb.sandboxId, provider: provider.name, workflowId: sb.metadata.workflowId, reason: verdict.reason };
      if (!verdict.orphan) {
        decisions.push({ ...base, action: 'kept' });
      } else if (o.dryRun) {
        decisions.push({ ...base, action: 'would-destroy' });
      } else {
        const archived =
          o.artifacts && sb.metadata.workflowId ? await archiveOrphan(provider, sb, o.artifacts, o.client.options.namespace) : undefined;
        await provider.destroy(sb.sandboxId);
        decisions.push({ ...base, action: 'destroyed', ...(archived !== undefined ? { archived } : {}) });
      }
    }
  }
  return decisions;
}

async function judge(client: Client, sb: SandboxInfo, now: number, graceMs: number): Promise<{ orphan: boolean; reason: string }> {
  const age = now - sb.createdAt;
  if (age < graceMs) return { orphan: false, reason: `younger than the grace period (${Math.round(age / 1000)} s old)` };
  const workflowId = sb.metadata.workflowId;
  if (!workflowId) return { orphan: true, reason: 'no owning workflow recorded' };
  const handle = client.workflow.getHandle(workflowId, sb.metadata.runId || undefined);
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return { orphan: true, reason: `its workflow is ${desc.status.name.toLowerCase()}` };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { orphan: true, reason: 'its workflow does not exist' };
    throw err;
  }
  // A running task works in one sandbox at a time: one it has left (because its host was
  // lost) is an orphan. If the task cannot be asked, the sandbox stays.
  // Bounded: a task whose workers are all down would keep the query waiting for half a minute.
  const current = await client
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery))
    .then(
      (s) => s.sandboxId,
      () => undefined,
    );
  if (current !== undefined && current !== sb.sandboxId) {
    return { orphan: true, reason: `its workflow is running in another sandbox (${current})` };
  }
  return { orphan: false, reason: 'its workflow is running' };
}

/** Saves the runs found in an orphan to the store, under its task; best effort. */
async function archiveOrphan(provider: SandboxProvider, sb: SandboxInfo, store: ArtifactStore, namespace: string): Promise<number> {
  const sandbox = await provider.connect(sb.sandboxId).catch(() => undefined);
  if (!sandbox) return 0;
  const runNames = await findRuns(sandbox);
  // Only the runs: the task's own result files are its current sandbox's to save.
  const task = { namespace, workflowId: sb.metadata.workflowId ?? 'unknown' };
  return archiveRuns(sandbox, store, task, runNames, { results: false }).catch(() => 0);
}

/** The runs an agent made in a sandbox (run-1, run-2, ...; a task numbers them across its sandboxes). */
async function findRuns(sandbox: Sandbox): Promise<string[]> {
  const found: string[] = [];
  for (let k = 1; k <= MAX_RUNS_PROBED; k++) {
    const pid = await sandbox.readFileFrom(`${SANDBOX_FILES.runs}/run-${k}/a1/pid`, 0, 1).catch(() => Buffer.alloc(0));
    if (pid.length > 0) found.push(`run-${k}`);
  }
  return found;
}

/**
 * Sweeps on a timer (and once at once): the worker's own host's orphans, so a host that comes
 * back after it was taken for lost cleans up after itself. Errors are reported, never fatal.
 */
export function startSweeper(o: SweepOptions & { intervalMs: number; report: (decisions: SweepDecision[], err?: unknown) => void }): {
  stop(): Promise<void>;
} {
  let running: Promise<void> | undefined;
  let stopped = false;
  // One sweep at a time: a tick that finds the last sweep still running is skipped.
  const sweep = () => {
    if (running || stopped) return;
    running = sweepOrphans(o)
      .then(
        (d) => o.report(d),
        (err: unknown) => o.report([], err),
      )
      .finally(() => {
        running = undefined;
      });
  };
  sweep();
  const timer = setInterval(sweep, o.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
