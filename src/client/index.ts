/**
 * ccflow's client library (the package entry `ccflow`): start agent tasks and pipelines on
 * Temporal, follow them, and talk to open tasks, with typed inputs, results and errors.
 */
export { CcflowClient, type StartOpts } from './client.js';
export { ApprovalError, type ApproveOpts, type PendingApproval } from './approvals.js';
export {
  ChangesError,
  StoredChange,
  locateArtifacts,
  type AppliedChange,
  type ChangesOpts,
  type CheckedOutChange,
  type DiffOpts,
} from './changes.js';
export { resolveConnectOpts, type ConnectOpts } from './connection.js';
export {
  CcflowError,
  InvalidInputError,
  ServerUnreachableError,
  TaskClosedError,
  TaskFailedError,
  TaskNotFoundError,
  describeFailure,
} from './errors.js';
export { FollowUpError, type FirstResult, type FollowUpOpts, type FollowUpOutcome, type StartedFollowUp } from './follow-up.js';
export { STATUS_QUERIES, type ListOpts, type ListedTask } from './list.js';
export { PipelineSpecError, readPipelineFile } from './pipeline.js';
export { WAITING_FOR_WORKER, type WatchOpts } from './progress.js';
export { renderTranscriptFiles, type TaskTranscript, type TranscriptFile, type TranscriptOpts } from './transcript.js';
export { MAX_SEED_BYTES, readWorkspaceFiles } from './workspace-files.js';
export { resolveRepoLocation } from './repo-location.js';
export type { QueuePoller } from './workers.js';
export { TaskSpec, type TaskResult, type TaskSpecInput, type TurnSummary } from '../schemas/task-spec.js';
export type { FollowUpInput, FollowUpResult, PipelineResult, PipelineStepStatus, TaskStatus } from '../schemas/messages.js';
export type {
  ApprovalAnswer,
  ApprovalRequest,
  ApprovalSpecInput,
  ApprovalStatus,
  ApproveInput,
  ApproveResult,
} from '../schemas/approvals.js';
export type { PipelineSpecInput } from '../schemas/pipeline-spec.js';
export type { ChangeSummary, PushRecord, RepoRecord, RepoSpec, PushSpec } from '../schemas/git.js';
export type { LatestTurn, ProgressEvent, ProgressFailure, ProgressResult, ProgressSnapshot } from '../schemas/progress.js';
export { FAILURE_TYPES, type FailureType } from '../domain/failures.js';
