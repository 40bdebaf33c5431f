import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, isCancellation } from '@temporalio/workflow';

/**
 * Reading failures in workflow code: the classified type behind an activity or child failure,
 * and rethrowing with a message that says what went wrong in one line.
 */

/** The ApplicationFailure behind an activity or child workflow failure, or the error itself. */
function innermost(err: unknown): unknown {
  return err instanceof ActivityFailure || err instanceof ChildWorkflowFailure ? (err.cause ?? err) : err;
}

/** The classified failure type behind an activity failure, if any. */
export function failureType(err: unknown): string | undefined {
  const app = innermost(err);
  return app instanceof ApplicationFailure ? (app.type ?? undefined) : undefined;
}

/** "<type>: <message>", for status records and step states. */
export function describeFailure(err: unknown): string {
  const app = innermost(err);
  if (app instanceof ApplicationFailure && app.type) return `${app.type}: ${app.message}`;
  return app instanceof Error ? app.message : String(app);
}

/**
 * Rethrows a failure so the workflow's own failure says what went wrong in one line, with the
 * classified type and details kept (an activity failure otherwise reads "Activity task failed").
 */
export function surface(err: unknown, what: string, artifactsDir?: string): unknown {
  if (isCancellation(err)) return err;
  const app = innermost(err);
  if (!(app instanceof ApplicationFailure)) return err;
  const where = artifactsDir ? ` (transcripts: ${artifactsDir})` : '';
  return ApplicationFailure.create({
    type: app.type ?? 'AgentFailed',
    nonRetryable: true,
    message: `${what}: ${app.message}${where}`,
    details: [...(app.details ?? []), ...(artifactsDir ? [{ artifacts: artifactsDir }] : [])],
    cause: err instanceof ActivityFailure ? err : undefined,
  });
}

/** A follow-up's failure as its Update's failure: one line, its type kept; the task stays open. */
export function asUpdateFailure(err: unknown): ApplicationFailure {
  const app = innermost(err);
  return ApplicationFailure.create({
    type: app instanceof ApplicationFailure ? (app.type ?? 'AgentFailed') : 'AgentFailed',
    nonRetryable: true,
    message: `the follow-up failed: ${app instanceof Error ? app.message : String(app)}`,
    details: app instanceof ApplicationFailure ? [...(app.details ?? [])] : [],
  });
}
