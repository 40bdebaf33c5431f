/**
 * The end-to-end suite again with the S3 artifact store (a real SeaweedFS): transcripts,
 * results and attempts saved at teardown and read back through S3. With follow-ups-s3 (saved
 * sessions, restores, continueFrom), this is the second pass of the files that use the store;
 * `CCFLOW_TEST_ARTIFACTS=s3 npm test -- tests/e2e` runs every e2e file against S3.
 */
import { agentTaskSuite } from './agent-task-suite.js';

agentTaskSuite('local bubblewrap sandbox, S3 artifact store on SeaweedFS', undefined, 's3');
