/**
 * Every way a task can fail, in one table: the failure type users see (in `ccflow`, in Web UI,
 * as `ApplicationFailure.type`), whether Temporal retries the activity that hit it (with
 * backoff), and what it means. This is the only place that decides retryability: activities
 * build their failures from it and the workflows' retry policies list its non-retryable types.
 * Pure data, so workflow code can import it.
 */
export const FAILURE_TYPES = {
  InvalidTaskSpec: { retryable: false, meaning: 'The task input does not match TaskSpec; the message names the field.' },
  ProviderUnavailable: { retryable: false, meaning: 'The requested sandbox provider is not configured on this worker.' },
  SandboxUnavailable: { retryable: false, meaning: 'The sandbox cannot be created here (e.g. bubblewrap missing).' },
  ModelAuthFailed: { retryable: false, meaning: 'The model endpoint rejected the API key (401/403).' },
  MaxTurnsExceeded: { retryable: false, meaning: 'The agent used up maxTurns before finishing.' },
  BudgetExceeded: { retryable: false, meaning: 'The agent spent maxBudgetUsd before finishing.' },
  InvalidResult: { retryable: false, meaning: 'No valid result after the corrective resumes; the last attempt is attached.' },
  TaskTimedOut: { retryable: false, meaning: 'The task ran past timeouts.taskSeconds; the agent was stopped.' },
  SandboxLost: {
    retryable: false,
    meaning: 'The sandbox disappeared under a running agent; the workflow starts over in a fresh sandbox (twice at most).',
  },
  SandboxCallFailed: { retryable: true, meaning: 'A call to the sandbox failed in a way that may pass (network, provider busy).' },
  TaskClosing: {
    retryable: false,
    meaning: 'A follow-up was refused because the task is closing; `ccflow followup` continues it in a new task.',
  },
  TaskClosed: { retryable: false, meaning: 'The task ended before a queued follow-up could run.' },
  ApprovalTimedOut: {
    retryable: false,
    meaning: 'A tool call waited for a human longer than approval.timeoutSeconds, and approval.onTimeout is "fail".',
  },
  SessionNotFound: {
    retryable: false,
    meaning: 'A follow-up or continuation found no saved session: the message says whether the transcript or the workspace is missing.',
  },
  InvalidPipelineSpec: {
    retryable: false,
    meaning: 'The pipeline spec is invalid (unknown step, cycle, bad reference, bad task field); each message names its step.',
  },
  PipelineStepFailed: {
    retryable: false,
    meaning: 'A pipeline step failed under onFailure "stop"; the other steps\' states are attached.',
  },
  RepoUnavailable: {
    retryable: false,
    meaning:
      "The repository cannot be read with the worker's git credentials (refused or missing), does not exist, or is a location this worker may not read.",
  },
  RefNotFound: { retryable: false, meaning: 'repo.ref is not a branch, tag or commit of the repository; the message names it.' },
  RepoTooLarge: {
    retryable: false,
    meaning: "The repository is over the worker's size limit (CCFLOW_GIT_MAX_BYTES); fetch less history or raise it.",
  },
  ChangeCaptureFailed: {
    retryable: false,
    meaning: "The workspace's change could not be recorded: its .git was removed or damaged, or the change is over the size limit.",
  },
  PushRejected: {
    retryable: false,
    meaning: 'The remote refused the push: the branch moved since the task recorded it, or it is protected. Nothing was overwritten.',
  },
  GitRemoteError: { retryable: true, meaning: 'git could not talk to a remote (network, server error, timeout); retried with backoff.' },
  ModelUnavailable: { retryable: true, meaning: 'Rate limit, overload, 5xx or network error talking to the model.' },
  ResultServerUnavailable: {
    retryable: true,
    maxAttempts: 2,
    meaning: 'The result MCP server did not connect, or its submit_result tool was not offered to the agent; retried once, then final.',
  },
  AgentStalled: { retryable: true, meaning: 'No stream output for timeouts.stallSeconds while no tool ran; the agent was killed.' },
  AgentFailed: { retryable: true, meaning: 'The agent ended with an error, or exited without a result line.' },
} as const satisfies Record<string, FailureRule>;

interface FailureRule {
  retryable: boolean;
  /** Retried only until this attempt; the failure of the last one is final. */
  maxAttempts?: number;
  meaning: string;
}

export type FailureType = keyof typeof FAILURE_TYPES;

export const NON_RETRYABLE_FAILURE_TYPES = (Object.keys(FAILURE_TYPES) as FailureType[]).filter((t) => !FAILURE_TYPES[t].retryable);

export function isFailureType(value: unknown): value is FailureType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(FAILURE_TYPES, value);
}

/** Whether a failure of this type, met on this attempt of an activity, is worth another attempt. */
export function isRetryable(type: FailureType, attempt = 1): boolean {
  const rule: FailureRule = FAILURE_TYPES[type];
  return rule.retryable && (rule.maxAttempts === undefined || attempt < rule.maxAttempts);
}

/** What a failure carries besides its message, so nothing needed to debug it is lost. */
export interface FailureDetails {
  stderrTail?: string;
  recentEvents?: readonly string[];
  sessionId?: string;
  lastAttempt?: unknown;
  artifacts?: string;
  [key: string]: unknown;
}

/**
 * A classified failure from code below the activities (no Temporal imports there). The
 * activity layer turns it into `ApplicationFailure.create({ type, nonRetryable, details })`.
 */
export class CcflowFailure extends Error {
  readonly type: FailureType;
  readonly details: FailureDetails;
  constructor(type: FailureType, message: string, details: FailureDetails = {}) {
    super(message);
    this.name = 'CcflowFailure';
    this.type = type;
    this.details = details;
  }
  get retryable(): boolean {
    return isRetryable(this.type);
  }
}
