import { CcflowError, InvalidInputError, ServerUnreachableError, TaskNotFoundError } from '../client/index.js';

/**
 * The CLI's exit codes (documented in `ccflow --help` and README):
 * 0 success; 1 the task, pipeline or follow-up did not succeed; 2 a usage or input error
 * (reported before anything connects); 3 no Temporal server answered; 130 interrupted
 * while watching (the task keeps running).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, interrupted: 130 } as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    the task, pipeline or follow-up did not succeed (or the task was not found)
  2    usage or input error (bad flag, unreadable file, invalid schema); nothing was started
  3    no Temporal server answered at TEMPORAL_ADDRESS
  130  interrupted while watching; the task keeps running`;

/** A mistake in how ccflow was called or in its input files: one line, exit code 2. */
export class UsageError extends Error {}

/** What a failed command prints (one line) and exits with. */
export function describeCliError(err: unknown): { message: string; code: number } {
  if (err instanceof UsageError || err instanceof InvalidInputError) return { message: err.message, code: EXIT.usage };
  if (err instanceof ServerUnreachableError) return { message: err.message, code: EXIT.unreachable };
  if (err instanceof TaskNotFoundError || err instanceof CcflowError) return { message: err.message, code: EXIT.failed };
  const message = err instanceof Error ? err.message : String(err);
  return { message: message.split('\n')[0] ?? message, code: EXIT.failed };
}
