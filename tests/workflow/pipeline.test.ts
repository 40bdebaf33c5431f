/** The pipeline workflow's policies, fast: skips, onFailure continue and stop, on faked agent runs. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RunClaudeInput } from '../../src/schemas/activities.js';
import type { PipelineWorkflow } from '../../src/workflows/messages.js';
import { failure, runUntilCancelled, startTimeSkipping, withWorker, type FakeScript } from '../helpers/workflow-env.js';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

/** Steps whose prompt says FAIL fail without retries; HANG runs until cancelled; the rest succeed. */
const script: FakeScript = {
  run: (input: RunClaudeInput) => {
    if (input.prompt.startsWith('FAIL')) return Promise.reject(failure('MaxTurnsExceeded', 'the agent used up its turns'));
    if (input.prompt.startsWith('HANG')) return runUntilCancelled();
    return {};
  },
  fetch: () => ({ status: 'valid', result: { summary: 'ok', approved: false } }),
};

const step = (name: string, prompt: string, more: Record<string, unknown> = {}) => ({ name, prompt, ...more });

test('a false condition skips a step without stopping its dependents; with onFailure continue a failed step skips only its own', async () => {
  await withWorker(env, script, async ({ taskQueue, fake }) => {
    const result = await env.client.workflow.execute<PipelineWorkflow>('pipeline', {
      taskQueue,
      workflowId: 'pl-continue',
      args: [
        {
          onFailure: 'continue',
          steps: [
            step('plan', 'Plan it.'),
            step('review', 'Review it.', { dependsOn: 'plan', when: 'steps.plan.result.approved == true' }),
            step('ship', 'Ship it.', { dependsOn: 'review' }),
            step('broken', 'FAIL now', { dependsOn: 'plan' }),
            step('after-broken', 'Never.', { dependsOn: 'broken' }),
          ],
        },
      ],
    });
    assert.equal(result.ok, false);
    assert.deepEqual(result.failed, ['broken']);
    assert.deepEqual(result.skipped.sort(), ['after-broken', 'review']);
    assert.equal(result.steps.ship?.state, 'done');
    assert.match(result.steps.review?.reason ?? '', /condition is false/);
    assert.match(result.steps['after-broken']?.reason ?? '', /dependency "broken" failed/);
    assert.match(result.steps.broken?.error ?? '', /MaxTurnsExceeded/);
    // Three steps ran an agent: plan, ship, broken.
    assert.equal(fake.inputs('runClaude').length, 3);
  });
});

test('with onFailure stop a failed step cancels the running ones, skips the rest and fails the pipeline', async () => {
  await withWorker(env, script, async ({ taskQueue, fake }) => {
    const handle = await env.client.workflow.start<PipelineWorkflow>('pipeline', {
      taskQueue,
      workflowId: 'pl-stop',
      args: [{ steps: [step('slow', 'HANG here'), step('bad', 'FAIL here'), step('later', 'Later.', { dependsOn: ['slow', 'bad'] })] }],
    });
    const err: unknown = await handle.result().catch((e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
    assert.equal(err.cause.type, 'PipelineStepFailed');
    const [details] = err.cause.details as [{ steps: Array<{ name: string; state: string }> }];
    assert.deepEqual(Object.fromEntries(details.steps.map((s) => [s.name, s.state])), {
      slow: 'cancelled',
      bad: 'failed',
      later: 'skipped',
    });
    // The cancelled step tore its sandbox down too.
    assert.equal(fake.inputs('destroySandbox').length, 2);
  });
});
