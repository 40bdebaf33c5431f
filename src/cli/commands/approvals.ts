import { setTimeout as sleep } from 'node:timers/promises';
import type { CcflowClient, PendingApproval } from '../../client/index.js';
import { defaultIo, interruptSignal, type Io } from '../output.js';
import { formatDuration } from '../views/progress-view.js';

/**
 * `ccflow approvals` (what waits for a human, across tasks) and `ccflow approve` (answer it).
 * Each returns an exit code, so the commands are testable as they are.
 */

const oneLine = (s: string, max: number): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** The call as people read it: the command of a Bash call, the path of a file tool, else the input. */
function callText(p: PendingApproval): string {
  try {
    const input = JSON.parse(p.input) as Record<string, unknown>;
    const main = ['command', 'file_path', 'notebook_path', 'url'].map((k) => input[k]).find((v) => typeof v === 'string');
    if (typeof main === 'string') return main;
  } catch {
    // a cut input is not JSON any more: show it as it is
  }
  return p.input;
}

/** One request, for people: a headline, then what it matched and what the agent said. */
export function renderApproval(p: PendingApproval, now: number): string[] {
  const lines = [`${p.id}  ${p.toolName}: ${oneLine(callText(p), 120)}`];
  const about = [
    `waiting ${formatDuration(now - p.requestedAt)}`,
    ...(p.expiresAt !== undefined ? [`answer within ${formatDuration(p.expiresAt - now)}`] : []),
    ...(p.rules.length ? [`rule ${p.rules.join(', ')}`] : []),
    `turn ${p.turn}`,
    p.sandboxReleased ? 'sandbox released' : 'sandbox kept',
    ...(p.parentWorkflowId ? [`pipeline ${p.parentWorkflowId}`] : []),
  ];
  lines.push(`    ${about.join(' · ')}`);
  if (p.agentText) lines.push(`    agent: ${oneLine(p.agentText, 160)}`);
  return lines;
}

export async function approvalsCommand(
  o: { watch?: boolean; json?: boolean; intervalMs?: number; signal?: AbortSignal },
  client: CcflowClient,
  io: Io = defaultIo,
): Promise<number> {
  if (!o.watch) {
    const pending = await client.approvals();
    if (o.json) for (const p of pending) io.stdout.write(`${JSON.stringify(p)}\n`);
    else if (pending.length === 0) io.stderr.write('nothing waits for approval\n');
    else io.stdout.write(`${pending.flatMap((p) => renderApproval(p, Date.now())).join('\n')}\n`);
    return 0;
  }
  // --watch: a line when a request appears and when it goes away, until interrupted.
  const signal = o.signal ?? interruptSignal();
  const shown = new Map<string, PendingApproval>();
  io.stderr.write('watching for approval requests (Ctrl-C to stop)\n');
  while (!signal.aborted) {
    const pending = await client.approvals();
    const now = Date.now();
    for (const p of pending) {
      const before = shown.get(p.id);
      shown.set(p.id, p);
      if (before) {
        if (p.sandboxReleased && !before.sandboxReleased) {
          if (o.json) io.stdout.write(`${JSON.stringify({ event: 'sandbox-released', id: p.id, workflowId: p.workflowId })}\n`);
          else io.stdout.write(`~ ${p.id}  sandbox saved and released; the answer restores it\n`);
        }
        continue;
      }
      if (o.json) io.stdout.write(`${JSON.stringify({ event: 'waiting', ...p })}\n`);
      else io.stdout.write(`${['+ ' + (renderApproval(p, now)[0] ?? ''), ...renderApproval(p, now).slice(1)].join('\n')}\n`);
    }
    for (const [id, p] of shown) {
      if (pending.some((x) => x.id === id)) continue;
      shown.delete(id);
      if (o.json) io.stdout.write(`${JSON.stringify({ event: 'gone', id, workflowId: p.workflowId })}\n`);
      else io.stdout.write(`- ${id}  no longer waits (answered, timed out, or the task ended)\n`);
    }
    await sleep(o.intervalMs ?? 2_000, undefined, { signal }).catch(() => undefined);
  }
  return 0;
}

export async function approveCommand(
  target: string,
  o: { deny?: boolean; reason?: string; remember?: boolean; request?: string; json?: boolean },
  client: CcflowClient,
  io: Io = defaultIo,
): Promise<number> {
  const { request, result } = await client.approve(target, {
    decision: o.deny ? 'deny' : 'allow',
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    ...(o.remember ? { remember: 'session' as const } : {}),
    ...(o.request !== undefined ? { requestId: o.request } : {}),
  });
  if (o.json) {
    io.stdout.write(`${JSON.stringify({ ...result, id: request.id, toolName: request.toolName })}\n`);
    return 0;
  }
  const what = `${request.toolName}: ${oneLine(callText(request), 100)}`;
  const lines = [
    result.decision === 'allow'
      ? `allowed ${request.id} (${what}); the agent goes on`
      : `denied ${request.id} (${what})${o.reason ? `, telling the agent: ${oneLine(o.reason, 160)}` : ''}; the agent goes on`,
  ];
  if (o.remember) {
    lines.push(
      result.rememberedRules.length
        ? `allowed for the rest of ${request.workflowId}: ${result.rememberedRules.join(', ')}`
        : 'nothing to remember: the call matched no rule ccflow could name',
    );
  }
  lines.push(`follow it with: ccflow watch ${request.workflowId}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
