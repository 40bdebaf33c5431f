/** Every workflow the ccflow worker runs. Deterministic code only: see README "Workflow rules". */
export { agentTask, statusQuery, TASK_QUEUE } from './agent-task.js';
export type { TaskStatus, TaskPhase, TaskRunRecord } from './agent-task.js';
export { followUpUpdate, closeSignal, TASK_CLOSING } from './follow-ups.js';
export type { FollowUpInput, FollowUpResult } from './follow-ups.js';
export { pipeline, pipelineStatusQuery } from './pipeline.js';
export type { PipelineResult, PipelineStatus, PipelineStepStatus, StepState } from './pipeline.js';
