import os from 'node:os';

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

/** A task's (first) result, for people. */
export function formatResult(r: {
  workflowId: string;
  result: Record<string, unknown>;
  sessionId: string;
  numTurns: number;
  totalCostUsd: number;
  durationMs: number;
  artifactsDir?: string | undefined;
}): string {
  const lines = [
    `result of ${r.workflowId}:`,
    JSON.stringify(r.result, null, 2),
    `session ${r.sessionId} · ${r.numTurns} turns · $${r.totalCostUsd.toFixed(4)} · ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  if (r.artifactsDir) lines.push(`transcripts: ${r.artifactsDir}`);
  return lines.join('\n');
}

/** Aborts on the first Ctrl-C, so a watcher can say the task keeps running. */
export function interruptSignal(): AbortSignal {
  const ctl = new AbortController();
  process.once('SIGINT', () => ctl.abort());
  return ctl.signal;
}
