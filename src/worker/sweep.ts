import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SandboxInfo, SandboxProvider } from '../sandbox/types.js';

export interface SweepOptions {
  providers: readonly SandboxProvider[];
  client: Client;
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
}

/**
 * Destroys sandboxes whose owning workflow is closed or missing and which are older than the
 * grace period: what a crashed worker or a failed teardown left behind. Only sandboxes that
 * carry ccflow's owner label are considered.
 */
export async function sweepOrphans(o: SweepOptions): Promise<SweepDecision[]> {
  const graceMs = o.graceMs ?? 15 * 60_000;
  const now = o.now ?? Date.now();
  const decisions: SweepDecision[] = [];
  for (const provider of o.providers) {
    for (const sb of await provider.list({ metadata: { owner: 'ccflow' } })) {
      const verdict = await judge(o.client, sb, now, graceMs);
      const base = { sandboxId: sb.sandboxId, provider: provider.name, workflowId: sb.metadata.workflowId, reason: verdict.reason };
      if (!verdict.orphan) {
        decisions.push({ ...base, action: 'kept' });
      } else if (o.dryRun) {
        decisions.push({ ...base, action: 'would-destroy' });
      } else {
        await provider.destroy(sb.sandboxId);
        decisions.push({ ...base, action: 'destroyed' });
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
  try {
    const desc = await client.workflow.getHandle(workflowId, sb.metadata.runId || undefined).describe();
    if (desc.status.name === 'RUNNING') return { orphan: false, reason: 'its workflow is running' };
    return { orphan: true, reason: `its workflow is ${desc.status.name.toLowerCase()}` };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { orphan: true, reason: 'its workflow does not exist' };
    throw err;
  }
}
