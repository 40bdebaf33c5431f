/** Every workflow the ccflow worker runs. Deterministic code only: see README "Workflow rules". */
export { agentTask, statusQuery, TASK_QUEUE } from './agent-task.js';
export type { TaskStatus, TaskPhase, TaskRunRecord } from './agent-task.js';
