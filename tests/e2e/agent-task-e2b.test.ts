/**
 * The end-to-end suite again, with every task in an E2B sandbox: the real e2b SDK and the
 * E2B provider against the local E2B-compatible server (tests/e2b-server).
 */
import { agentTaskSuite } from './agent-task-suite.js';
import { e2bProviderFactory } from '../e2b-server/fixtures.js';

agentTaskSuite('E2B sandbox, local E2B-compatible server', e2bProviderFactory());
