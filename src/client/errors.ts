import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';

/** Base of every error the ccflow client throws; `message` is one line a person can act on. */
export class CcflowError extends Error {
  override readonly name: string = 'CcflowError';
}

/** Thrown when no Temporal server answers at the address. */
export class ServerUnreachableError extends CcflowError {
  override readonly name = 'ServerUnreachableError';
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      `no Temporal server answers at ${address}: start one with \`npx ccflow server\` (or \`npx ccflow dev\` for a server and a worker), or set TEMPORAL_ADDRESS`,
      options,
    );
  }
}

/** Thrown for input that fails its schema before anything is started (a task spec, a follow-up, a pipeline). */
export class InvalidInputError extends CcflowError {
  override readonly name: string = 'InvalidInputError';
}

/** Thrown when a workflow id names no task. */
export class TaskNotFoundError extends CcflowError {
  override readonly name = 'TaskNotFoundError';
}

/** Thrown for a follow-up to a task that is closed or closing, when the caller asked not to continue it in a new task. */
export class TaskClosedError extends CcflowError {
  override readonly name = 'TaskClosedError';
}

/** Thrown when a task (or pipeline, or follow-up) ended without a result; `failureType` is from the failure table. */
export class TaskFailedError extends CcflowError {
  override readonly name = 'TaskFailedError';
  constructor(
    readonly workflowId: string,
    message: string,
    readonly failureType?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The innermost message of a failed workflow or update, for people: "<type>: <message>". */
export function describeFailure(err: unknown): string {
  const cause = err instanceof WorkflowFailedError || (err instanceof Error && err.cause instanceof ApplicationFailure) ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type) return `${cause.type}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/** A failed workflow result as a TaskFailedError, keeping the failure type. */
export function taskFailed(workflowId: string, err: unknown): unknown {
  if (err instanceof CcflowError) return err;
  const cause = err instanceof Error ? err.cause : undefined;
  const type = cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
  return new TaskFailedError(workflowId, `task ${workflowId} did not succeed: ${describeFailure(err)}`, type, { cause: err });
}
