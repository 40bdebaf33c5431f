import {
  ActivityCancellationType,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
  type RetryPolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { NON_RETRYABLE_FAILURE_TYPES } from '../domain/failures.js';
import type { CreatedSandbox } from '../schemas/activities.js';
import type { TaskTimeouts } from '../schemas/task-spec.js';

/**
 * How the workflows call activities: one retry profile read from the failure table, and a
 * named preset per kind of call. Activities without a task queue go to the workflow's own, so
 * a task started on any queue stays on it; a sandbox's activities go where the sandbox lives.
 */

/** Backs off from 2 s, doubling up to 1 min, five attempts; the table's non-retryable types stop at once. */
export const retry: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURE_TYPES],
};

/** Quick sandbox bookkeeping calls. */
const shortCall = { startToCloseTimeout: '2m', retry } as const satisfies ActivityOptions;

/** Saving and restoring move a workspace tarball: allow minutes, with heartbeats. */
const sessionCall = {
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry: { ...retry, initialInterval: '1s', maximumAttempts: 4 },
} as const satisfies ActivityOptions;

/** Fetching a repository and checking it out, or pushing one: minutes for a big one, with heartbeats. */
const repoCall = {
  startToCloseTimeout: '30m',
  heartbeatTimeout: '1m',
  retry: { ...retry, initialInterval: '2s', maximumAttempts: 4 },
} as const satisfies ActivityOptions;

/** Input checks run in the worker, next to the workflow: zod stays out of workflow code. */
export const validation = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['InvalidTaskSpec', 'InvalidPipelineSpec'] },
});

/** createSandbox runs on the task's own queue: any worker polling it can make a sandbox. */
export const { createSandbox } = proxyActivities<Activities>(shortCall);

/**
 * Activities on one sandbox: a local sandbox pins them to the task queue of its host. The
 * agent run has no start-to-close cap: only the task's deadline and a heartbeat timeout, and
 * a cancellation waits until the agent's processes are really killed.
 */
export function sandboxActivities(sandbox: CreatedSandbox, timeouts: TaskTimeouts) {
  // On a host queue, an activity nobody picks up within the host's bound means the host is
  // gone (a retry after a lost heartbeat waits there too): the workflow then sees a
  // SCHEDULE_TO_START timeout and moves the task to another host, instead of waiting out its
  // deadline on a queue nobody polls.
  const routed = {
    taskQueue: sandbox.taskQueue,
    ...(sandbox.hostStartSeconds !== undefined ? { scheduleToStartTimeout: `${sandbox.hostStartSeconds}s` } : {}),
  } as const;
  const short = proxyActivities<Activities>({ ...shortCall, ...routed });
  const session = proxyActivities<Activities>({ ...sessionCall, ...routed });
  const repo = proxyActivities<Activities>({ ...repoCall, ...routed });
  const long = proxyActivities<Activities>({
    ...routed,
    scheduleToCloseTimeout: `${timeouts.taskSeconds}s`,
    heartbeatTimeout: `${timeouts.heartbeatSeconds}s`,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });
  return {
    runClaude: long.runClaude,
    fetchResult: short.fetchResult,
    destroySandbox: short.destroySandbox,
    probeSandbox: session.probeSandbox,
    clearResult: session.clearResult,
    stageAttachments: session.stageAttachments,
    saveSession: session.saveSession,
    restoreSession: session.restoreSession,
    prepareRepo: repo.prepareRepo,
    captureChanges: session.captureChanges,
    // On the sandbox's queue: that host's artifact store holds the bundles it pushes.
    pushChanges: repo.pushChanges,
  };
}
export type SandboxActivities = ReturnType<typeof sandboxActivities>;
