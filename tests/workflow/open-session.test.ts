/**
 * Tasks that open a session without a prompt (how `ccflow nats` spawns), text results, and the
 * turn keys runs publish their live events under, with activities faked and time skipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DestroySandboxInput, RunClaudeInput } from '../../src/schemas/activities.js';
import type { TaskSpecInput } from '../../src/schemas/task-spec.js';
import { closeSignal, followUpUpdate, statusQuery, type AgentTaskWorkflow } from '../../src/workflows/messages.js';
import { eventually, startTimeSkipping, withWorker } from '../helpers/workflow-env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

let seq = 0;
function start(taskQueue: string, spec: TaskSpecInput): Promise<WorkflowHandle<AgentTaskWorkflow>> {
  return env.client.workflow.start<AgentTaskWorkflow>('agentTask', { taskQueue, workflowId: `open-${++seq}`, args: [spec] });
}

const opened = (h: WorkflowHandle<AgentTaskWorkflow>) =>
  eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));

describe('a task without a prompt', () => {
  test('makes its sandbox, runs nothing, and starts a fresh session with its first follow-up', async () => {
    const texts = ['first answer', 'second answer'];
    await withWorker(env, { run: (_input, n) => ({ resultText: texts[n] ?? '' }) }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { keepAliveSeconds: 3600, resultMode: 'text', files: { 'a.txt': 'a' } });
      await opened(h);
      const idle = await h.query(statusQuery);
      assert.deepEqual(idle.turns, []);
      assert.equal(idle.sandboxId, 'sbx-1');
      assert.equal(fake.inputs('runClaude').length, 0);
      assert.deepEqual(fake.inputs<{ files?: unknown }>('createSandbox')[0]?.files, { 'a.txt': 'a' });

      const one = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'hello there' }], updateId: 'turn-key-1' });
      assert.equal(one.turn, 1);
      assert.deepEqual(one.result, { text: 'first answer' });
      const two = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'and again' }], updateId: 'turn-key-2' });
      assert.equal(two.turn, 2);
      assert.deepEqual(two.result, { text: 'second answer' });

      const runs = fake.inputs<RunClaudeInput>('runClaude');
      // The first follow-up starts the session; the next resumes it.
      assert.ok(runs[0]?.newSessionId && runs[0].resumeSessionId === undefined);
      assert.equal(runs[1]?.resumeSessionId, runs[0]?.newSessionId);
      // A text result: the prompt as given (no result instructions), no result fetched.
      assert.equal(runs[0]?.prompt, 'hello there');
      assert.equal(runs[0]?.resultMode, 'text');
      assert.equal(fake.inputs('fetchResult').length, 0);
      // Each run is named by its turn's Update id, for its live events.
      assert.deepEqual(
        runs.map((r) => r.liveKey),
        ['turn-key-1', 'turn-key-2'],
      );
      assert.equal(fake.inputs('createSandbox').length, 1, 'one sandbox for the whole session');

      await h.signal(closeSignal);
      const result = await h.result();
      assert.deepEqual(result.result, { text: 'second answer' });
      assert.deepEqual(
        result.turns?.map((t) => [t.turn, t.prompt]),
        [
          [1, 'hello there'],
          [2, 'and again'],
        ],
      );
    });
  });

  test('closed before any prompt, it ends with an empty result and its sandbox torn down', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { keepAliveSeconds: 3600 });
      await opened(h);
      await h.signal(closeSignal);
      const result = await h.result();
      assert.deepEqual(result.result, {});
      assert.deepEqual(result.turns, []);
      assert.equal(result.sessionId, '');
      assert.deepEqual(
        fake.inputs<DestroySandboxInput>('destroySandbox').map((d) => d.sandboxId),
        ['sbx-1'],
      );
    });
  });

  test('left alone, it closes when its keep-alive window passes', async () => {
    await withWorker(env, {}, async ({ taskQueue }) => {
      const h = await start(taskQueue, { keepAliveSeconds: 1800 });
      await opened(h);
      await env.sleep(31 * 60_000);
      assert.deepEqual((await h.result()).turns, []);
    });
  });

  test('needs keepAliveSeconds: a task with neither prompt nor window is invalid, naming the field', async () => {
    await withWorker(env, {}, async ({ taskQueue }) => {
      const err: unknown = await start(taskQueue, {})
        .then((h) => h.result())
        .then(
          () => assert.fail('expected InvalidTaskSpec'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
      assert.equal(err.cause.type, 'InvalidTaskSpec');
      assert.match(err.cause.message, /prompt: is required unless keepAliveSeconds/);
    });
  });
});

describe('attachments', () => {
  test("are staged in the turn's sandbox and announced at the top of its prompt", async () => {
    await withWorker(env, { run: () => ({ resultText: 'read it' }) }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { keepAliveSeconds: 3600, resultMode: 'text' });
      await opened(h);
      const files = [{ filename: 'notes.md', contentBase64: Buffer.from('# hi').toString('base64') }];
      await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'read the notes', attachments: files }] });
      assert.deepEqual(fake.inputs('stageAttachments'), [{ sandboxId: 'sbx-1', provider: 'local', turn: 1, files }]);
      assert.equal(
        fake.inputs<RunClaudeInput>('runClaude')[0]?.prompt,
        '[Attachments available at the following absolute paths]\n- /staged/turn-1/1-notes.md\n\nread the notes',
      );
      await h.signal(closeSignal);
      await h.result();
    });
  });
});

describe('turn keys', () => {
  test("the task's own prompt runs under 'start', corrective resumes under their turn's key", async () => {
    await withWorker(
      env,
      { fetch: (_input, n) => (n === 0 ? { status: 'missing' } : { status: 'valid', result: { summary: 'ok' } }) },
      async ({ taskQueue, fake }) => {
        const h = await start(taskQueue, { prompt: 'do it' });
        await h.result();
        assert.deepEqual(
          fake.inputs<RunClaudeInput>('runClaude').map((r) => [r.runName, r.liveKey, r.resultMode]),
          [
            ['run-1', 'start', undefined],
            ['run-2', 'start', undefined],
          ],
        );
      },
    );
  });
});
