/**
 * Every message of ccflow's workflows, in one module: queries, the follow-up and approve
 * Updates, the close and step-waiting signals, with their payload types. Clients import this module (definitions and types
 * only); the workflows register the handlers.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApproveInput, ApproveResult, StepWaiting } from '../schemas/approvals.js';
import type { FollowUpInput, FollowUpResult, PipelineResult, PipelineStatus, TaskStatus } from '../schemas/messages.js';
import type { TaskResult, TaskSpecInput } from '../schemas/task-spec.js';

export type {
  FollowUpInput,
  FollowUpResult,
  PipelineResult,
  PipelineStatus,
  PipelineStepStatus,
  StepState,
  TaskPhase,
  TaskRunRecord,
  TaskStatus,
} from '../schemas/messages.js';
export type { ApprovalAnswer, ApprovalRequest, ApprovalStatus, ApproveInput, ApproveResult, StepWaiting } from '../schemas/approvals.js';

/** The agentTask workflow as a client starts it (`workflow.start<AgentTaskWorkflow>('agentTask', ...)`). */
export type AgentTaskWorkflow = (spec: TaskSpecInput) => Promise<TaskResult>;
/** The pipeline workflow as a client starts it; the spec is checked by the workflow. */
export type PipelineWorkflow = (spec: unknown) => Promise<PipelineResult>;

/** agentTask: where the task is (phase, turns, cost, every turn so far). */
export const statusQuery = defineQuery<TaskStatus>('status');
/** agentTask: the next prompt in the same Claude session, while the task is open. */
export const followUpUpdate = defineUpdate<FollowUpResult, [FollowUpInput]>('followUp');
/** agentTask: end the keep-alive window now; follow-ups already accepted still run. */
export const closeSignal = defineSignal('close');
/**
 * agentTask: answer the tool call waiting for a human (`status` shows it). Returns at once;
 * the agent goes on in the background. A validator refuses an unknown or answered request.
 */
export const approveUpdate = defineUpdate<ApproveResult, [ApproveInput]>('approve');
/** pipeline: one of its steps started or stopped waiting for a human (sent by the step's task). */
export const stepWaitingSignal = defineSignal<[StepWaiting]>('stepWaiting');
/** pipeline: every step's state. Same name as agentTask's, so `ccflow status` reads both. */
export const pipelineStatusQuery = defineQuery<PipelineStatus>('status');

/** The workflow id of a pipeline step's agentTask. */
export function stepWorkflowId(pipelineId: string, step: string): string {
  return `${pipelineId}.${step}`;
}
