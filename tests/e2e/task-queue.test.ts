/**
 * A task on a queue other than the default runs to its end: the workflow sends its activities
 * to its own queue (it once sent createSandbox to a hard-coded 'ccflow' and waited there for
 * its 24 h deadline), and the CLI and client start work on CCFLOW_TASK_QUEUE.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { CcflowClient } from '../../src/client/index.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const QUEUE = 'team-a';
const submit = (summary: string) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary } }] });

let h: Harness;
before(async () => {
  h = await startHarness({ taskQueue: QUEUE, script: { conversations: [{ steps: [submit('ran on team-a'), { text: 'Done.' }] }] } });
  await h.startWorker();
});
after(async () => {
  await h?.close();
});

test('the client runs a task on a non-default queue', async () => {
  const client = new CcflowClient(h.client, QUEUE);
  const result = await client.run({ prompt: 'Say where you ran.' }, { workflowId: 'queue-client' });
  assert.deepEqual(result.result, { summary: 'ran on team-a' });
  const desc = await h.client.workflow.getHandle('queue-client').describe();
  assert.equal(desc.taskQueue, QUEUE);
});

test('ccflow run starts on CCFLOW_TASK_QUEUE and ccflow list finds the task there', async () => {
  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), ...args], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, CCFLOW_TASK_QUEUE: QUEUE },
    });
  const run = await cli(['run', 'Say where you ran.', '--id', 'queue-cli', '--quiet']);
  assert.deepEqual(JSON.parse(run.stdout), { summary: 'ran on team-a' });
  const list = await cli(['list', '--json']);
  assert.ok(
    list.stdout.split('\n').some((l) => l.includes('"workflowId":"queue-cli"')),
    list.stdout,
  );
});
