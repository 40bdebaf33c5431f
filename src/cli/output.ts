import os from 'node:os';
import { formatShortStat } from '../domain/git.js';
import type { ChangeSummary, PushRecord } from '../schemas/git.js';

/** Where a command writes; tests pass their own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

/** Paths under the home directory, as `~/...` (transcript locations read better). */
export function tidy(line: string): string {
  const home = os.homedir();
  return home && home !== '/' ? line.split(`${home}/`).join('~/') : line;
}

/** What a task did to its repository, for people: the change's size, commits, and the push. */
export function formatChanges(workflowId: string, changes: ChangeSummary | undefined, push?: PushRecord, turn?: number): string[] {
  const lines: string[] = [];
  if (changes) {
    const size = changes.filesChanged === 0 ? 'no changes' : formatShortStat(changes);
    const how = turn === undefined ? `ccflow diff ${workflowId}` : `ccflow diff ${workflowId} --turn ${turn}`;
    lines.push(
      `${turn === undefined ? 'changes' : 'this turn changed'}: ${size} · ${changes.baseCommit.slice(0, 7)}..${changes.headCommit.slice(0, 7)}` +
        (changes.filesChanged > 0 ? ` (${how})` : ''),
    );
  }
  if (push) lines.push(`pushed: ${push.commit.slice(0, 7)} to ${push.branch} on ${push.remote} (${push.status})`);
  return lines;
}

/** A task's (first) result, for people. */
export function formatResult(r: {
  workflowId: string;
  result: Record<string, unknown>;
  sessionId: string;
  numTurns: number;
  totalCostUsd: number;
  durationMs: number;
  artifactsDir?: string | undefined;
  changes?: ChangeSummary | undefined;
  push?: PushRecord | undefined;
}): string {
  const lines = [
    `result of ${r.workflowId}:`,
    JSON.stringify(r.result, null, 2),
    `session ${r.sessionId} · ${r.numTurns} turns · $${r.totalCostUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  lines.push(...formatChanges(r.workflowId, r.changes, r.push));
  if (r.artifactsDir) lines.push(`transcripts: ${r.artifactsDir}`);
  return lines.join('\n');
}

/** Resolves at SIGINT or SIGTERM: long-running commands (worker, server, front ends) stop then. */
export function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** Aborts on the first Ctrl-C, so a watcher can say the task keeps running. */
export function interruptSignal(): AbortSignal {
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  return ctl.signal;
}
