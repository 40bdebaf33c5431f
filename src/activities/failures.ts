import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { CcflowFailure, isRetryable, type FailureDetails, type FailureType } from '../domain/failures.js';
import { SandboxError, SandboxNotFoundError } from '../sandbox/errors.js';

/**
 * Failures as activities raise them. Whether Temporal retries one is read from the failure
 * table (src/domain/failures.ts), never decided here: no call site passes `nonRetryable`.
 */
export function applicationFailure(
  type: FailureType,
  message: string,
  o: { details?: FailureDetails | undefined; attempt?: number | undefined } = {},
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: !isRetryable(type, o.attempt),
    ...(o.details !== undefined ? { details: [o.details] } : {}),
  });
}

/**
 * What an error from below the activities (claude runner, sandbox providers) becomes: its
 * classified type, or the sandbox failure that matches a provider error. Anything else is
 * left as it is (an unexpected error: Temporal retries it).
 */
export function toApplicationFailure(err: unknown, attempt?: number): unknown {
  if (err instanceof ApplicationFailure || err instanceof CancelledFailure) return err;
  if (err instanceof CcflowFailure) return applicationFailure(err.type, err.message, { details: err.details, attempt });
  if (err instanceof SandboxNotFoundError) return applicationFailure('SandboxLost', err.message);
  if (err instanceof SandboxError) return applicationFailure(err.retryable ? 'SandboxCallFailed' : 'SandboxUnavailable', err.message);
  return err;
}

/** Runs a call below the activities, turning its errors into Temporal failures. */
export async function translated<T>(fn: () => Promise<T>, attempt?: number): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toApplicationFailure(err, attempt);
  }
}
