import { agentTaskSuite } from './agent-task-suite.js';

agentTaskSuite('local bubblewrap sandbox');
