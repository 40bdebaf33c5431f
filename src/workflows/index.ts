/** Every workflow the ccflow worker runs. Deterministic code only: see docs/ARCHITECTURE.md. */
export { agentTask } from './agent-task.js';
export { pipeline } from './pipeline.js';
