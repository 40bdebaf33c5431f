/**
 * A task on a git repository, fast: where checkout, capture and push happen in the turn loop,
 * what each turn builds on, what pushes and what never does, on faked activities.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { CaptureChangesInput, PrepareRepoInput, PushChangesInput } from '../../src/schemas/git.js';
import type { TaskSpecInput } from '../../src/schemas/task-spec.js';
import { closeSignal, followUpUpdate, statusQuery, type AgentTaskWorkflow, type PipelineWorkflow } from '../../src/workflows/messages.js';
import { eventually, failure, startTimeSkipping, withWorker } from '../helpers/workflow-env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

let seq = 0;
function start(taskQueue: string, spec: TaskSpecInput): Promise<WorkflowHandle<AgentTaskWorkflow>> {
  return env.client.workflow.start<AgentTaskWorkflow>('agentTask', { taskQueue, workflowId: `repo-task-${++seq}`, args: [spec] });
}

const REPO = { url: 'https://git.example.com/org/app.git' };

describe('a task on a repository', () => {
  test('checks out after the sandbox is made, commits after a valid result and before the save, pushes after it', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'Add a --verbose flag\nwith a test', repo: REPO, push: { branch: 'feature/verbose' } });
      const result = await h.result();
      const order = fake.calls.map((c) => c.name).filter((n) => n !== 'validateTaskSpec');
      assert.deepEqual(order, [
        'createSandbox',
        'prepareRepo',
        'runClaude',
        'fetchResult',
        'captureChanges',
        'saveSession',
        'pushChanges',
        'destroySandbox',
      ]);
      const capture = fake.inputs<CaptureChangesInput>('captureChanges')[0]!;
      assert.equal(capture.parentCommit, 'base0');
      assert.equal(capture.baseCommit, 'base0');
      assert.equal(capture.turn, 1);
      assert.match(capture.message, /^Add a --verbose flag\n\nccflow task repo-task-\d+, turn 1\n$/);
      assert.deepEqual(capture.identity, { name: 'ccflow agent', email: 'agent@ccflow.invalid' });
      const push = fake.inputs<PushChangesInput>('pushChanges')[0]!;
      assert.deepEqual(push, { workflowId: h.workflowId, remote: REPO.url, branch: 'feature/verbose', commit: 'commit1', lease: null });
      assert.deepEqual(result.repo, { url: REPO.url, ref: 'HEAD', refName: 'refs/heads/main', baseCommit: 'base0', branch: 'ccflow/t' });
      assert.equal(result.changes?.headCommit, 'commit1');
      assert.equal(result.push?.ref, 'refs/heads/feature/verbose');
      assert.equal(result.push?.status, 'created');
    });
  });

  test('each follow-up commits on the previous turn and pushes leased on the last push; an idle turn pushes nothing', async () => {
    await withWorker(env, { changed: (_i, n) => n !== 2 }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, {
        prompt: 'first',
        repo: { ...REPO, author: { name: 'Ada', email: 'ada@example.com' }, message: 'Agent work' },
        push: { branch: 'agent' },
        keepAliveSeconds: 600,
      });
      await eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));
      const second = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'second' }] });
      assert.equal(second.changes?.headCommit, 'commit2');
      assert.equal(second.push?.commit, 'commit2');
      const third = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'third' }] });
      assert.equal(third.changes?.filesChanged, 0, 'the third turn changed nothing');
      assert.equal(third.push, undefined, 'so nothing was pushed');
      await h.signal(closeSignal);
      const result = await h.result();

      const captures = fake.inputs<CaptureChangesInput>('captureChanges');
      assert.deepEqual(
        captures.map((c) => [c.turn, c.parentCommit]),
        [
          [1, 'base0'],
          [2, 'commit1'],
          [3, 'commit2'],
        ],
      );
      assert.ok(captures.every((c) => c.message === 'Agent work' && c.identity.name === 'Ada'));
      assert.deepEqual(
        fake.inputs<PushChangesInput>('pushChanges').map((p) => [p.commit, p.lease]),
        [
          ['commit1', null],
          ['commit2', 'commit1'],
        ],
      );
      assert.deepEqual(
        result.turns?.map((t) => t.changes?.headCommit),
        ['commit1', 'commit2', 'commit2'],
      );
      assert.equal(result.push?.commit, 'commit2');
    });
  });

  test('a push that fails on the network is retried with the same lease', async () => {
    await withWorker(
      env,
      {
        push: (_i, n) => {
          if (n === 0) throw failure('GitRemoteError', 'could not reach the remote', false);
          return 'up-to-date';
        },
      },
      async ({ taskQueue, fake }) => {
        const result = await (await start(taskQueue, { prompt: 'x', repo: REPO, push: { branch: 'b' } })).result();
        const pushes = fake.inputs<PushChangesInput>('pushChanges');
        assert.equal(pushes.length, 2);
        assert.deepEqual(pushes[0], pushes[1], 'the retry is the same push');
        assert.equal(result.push?.status, 'up-to-date');
      },
    );
  });

  test('without push nothing is pushed; without repo no git activity runs', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const withRepo = await (await start(taskQueue, { prompt: 'x', repo: REPO })).result();
      assert.equal(fake.inputs('pushChanges').length, 0);
      assert.equal(withRepo.push, undefined);
      assert.equal(withRepo.changes?.headCommit, 'commit1');
      const before = fake.calls.length;
      const plain = await (await start(taskQueue, { prompt: 'y' })).result();
      const names = fake.calls.slice(before).map((c) => c.name);
      assert.ok(!names.some((n) => ['prepareRepo', 'captureChanges', 'pushChanges'].includes(n)), names.join(', '));
      assert.equal(plain.repo, undefined);
    });
  });

  test('a repository the worker cannot read fails the task at once, and the sandbox is destroyed', async () => {
    const refused = () => {
      throw failure('RepoUnavailable', "listing the refs: the worker's git credentials were refused or are missing");
    };
    await withWorker(env, { prepare: refused }, async ({ taskQueue, fake }) => {
      const err: unknown = await (await start(taskQueue, { prompt: 'x', repo: REPO })).result().catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
      assert.equal(err.cause.type, 'RepoUnavailable');
      assert.equal(fake.inputs('prepareRepo').length, 1, 'not retried');
      assert.equal(fake.inputs('runClaude').length, 0, 'no agent ran');
      assert.equal(fake.inputs('destroySandbox').length, 1);
    });
  });

  test('a malformed repo is an invalid task spec naming the field', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const bad = { prompt: 'x', repo: { url: 'ext::sh -c id', ref: 'main;reboot' } };
      const err: unknown = await (await start(taskQueue, bad as unknown as TaskSpecInput)).result().catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
      assert.equal(err.cause.type, 'InvalidTaskSpec');
      assert.match(err.cause.message, /repo\.url: .*repo\.ref: must not contain whitespace, control characters, shell metacharacters/);
      assert.equal(fake.inputs('createSandbox').length, 0);
    });
  });
});

describe('a pipeline on a repository', () => {
  test('continue: and from: steps take over the earlier step repository; the result holds the final change', async () => {
    const prepare = (input: PrepareRepoInput) => {
      const base = { url: REPO.url, ref: 'HEAD', baseCommit: 'base0', branch: 'ccflow/s' };
      if (input.repo) return { ...base, headCommit: 'base0' };
      return { ...base, headCommit: 'commit-from-earlier' };
    };
    await withWorker(env, { prepare }, async ({ taskQueue, fake }) => {
      const result = await env.client.workflow.execute<PipelineWorkflow>('pipeline', {
        taskQueue,
        workflowId: 'pl-repo',
        args: [
          {
            defaults: { repo: REPO },
            steps: [
              { name: 'implement', prompt: 'Implement it.' },
              { name: 'fix', prompt: 'Fix it.', dependsOn: 'implement', session: 'continue:implement' },
              { name: 'review', prompt: 'Review it.', dependsOn: 'fix', workspace: 'from:fix' },
            ],
          },
        ],
      });
      const prepared = fake.inputs<PrepareRepoInput>('prepareRepo');
      assert.equal(prepared.length, 3);
      assert.deepEqual(prepared[0]?.repo, REPO);
      assert.equal(prepared[1]?.repo, undefined, 'a continuing step does not fetch again');
      assert.equal(prepared[1]?.fromWorkflowId, 'pl-repo.implement');
      assert.equal(prepared[2]?.fromWorkflowId, 'pl-repo.fix');
      assert.deepEqual(
        fake.inputs<CaptureChangesInput>('captureChanges').map((c) => c.parentCommit),
        ['base0', 'commit-from-earlier', 'commit-from-earlier'],
      );
      assert.equal(result.changesStep, 'review');
      assert.equal(result.changes?.baseCommit, 'base0');
      assert.ok(result.steps.implement?.changes);
    });
  });
});
