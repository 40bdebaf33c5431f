/**
 * Pipelines end to end: a real dev server, worker, `claude` CLI in bubblewrap and the scripted
 * model. Each step is an agentTask child workflow; the model picks its script conversation by a
 * tag in a session's first prompt, so a `continue:` step goes on with its source's script.
 */
import { recordHistory } from '../helpers/histories.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { PACKAGE_ROOT } from '../../src/home.js';
import { parseScript } from '../../src/testing/model/index.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { PipelineSpecInput } from '../../src/schemas/pipeline-spec.js';
import { statusQuery } from '../../src/workflows/messages.js';
import { pipelineStatusQuery, type PipelineResult } from '../../src/workflows/messages.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);
const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string) => ({ toolUse: [{ name: 'Bash', input: { command } }] });

const EXAMPLE_YAML = path.join(PACKAGE_ROOT, 'examples/plan-implement-review.yaml');
const EXAMPLE_SCRIPT = path.join(PACKAGE_ROOT, 'examples/model-script.json');

const testConversations = [
  {
    match: '\\[pl-plan\\]',
    steps: [
      bash('echo "create a.txt and b.txt" > plan.md'),
      submit({ files: ['a.txt', 'b.txt'], needsDocs: true }),
      { text: 'Planned.' },
      // implement (session continue:plan)
      bash('cat plan.md && echo alpha > a.txt && echo beta > b.txt'),
      submit({ summary: 'created a.txt and b.txt' }),
      { text: 'Implemented.' },
      // fix (session continue:implement)
      bash('echo "alpha, fixed" > a.txt'),
      submit({ summary: 'fixed a.txt' }),
      { text: 'Fixed.' },
    ],
  },
  { match: '\\[pl-docs\\]', steps: [submit({ summary: 'wrote the docs' }), { text: 'Documented.' }] },
  {
    match: '\\[pl-review\\]',
    steps: [bash('cat a.txt b.txt'), submit({ approved: false, comments: ['a.txt needs a fix'] }), { text: 'Reviewed.' }],
  },
  { match: '\\[pl-ship\\]', steps: [submit({ summary: 'shipped' }), { text: 'Shipped.' }] },
  { match: '\\[pl-one\\]', steps: [submit({ summary: 'one step' }), { text: 'Done.' }] },
  // Holds its answer long enough for the test to cancel the pipeline under it.
  { match: '\\[pl-slow\\]', steps: [{ delayMs: 120_000, ...submit({ summary: 'too late' }) }, { text: 'Never.' }] },
];

const fanOut: PipelineSpecInput = {
  name: 'fan-out',
  inputs: { topic: 'the a/b files' },
  steps: [
    {
      name: 'plan',
      prompt: '[pl-plan] Plan.',
      resultSchema: {
        type: 'object',
        properties: { files: { type: 'array', items: { type: 'string' } }, needsDocs: { type: 'boolean' } },
        required: ['files', 'needsDocs'],
      },
    },
    { name: 'implement', dependsOn: ['plan'], session: 'continue:plan', prompt: 'Create these files: {{steps.plan.result.files}}' },
    { name: 'docs', dependsOn: ['plan'], when: 'steps.plan.result.needsDocs == true', prompt: '[pl-docs] Document {{inputs.topic}}.' },
    {
      name: 'review',
      dependsOn: ['implement', 'docs'],
      workspace: 'from:implement',
      prompt: '[pl-review] Review. Author: {{steps.implement.result.summary}}. Docs: {{steps.docs.result.summary}}.',
      resultSchema: {
        type: 'object',
        properties: { approved: { type: 'boolean' }, comments: { type: 'array', items: { type: 'string' } } },
        required: ['approved', 'comments'],
      },
    },
    {
      name: 'fix',
      dependsOn: ['review'],
      when: 'steps.review.result.approved == false',
      session: 'continue:implement',
      prompt: 'Please fix: {{steps.review.result.comments[0]}}',
    },
    { name: 'ship', dependsOn: ['review'], when: 'steps.review.result.approved == true', prompt: '[pl-ship] Ship it.' },
  ],
};

function bodiesWith(h: Harness, text: string): string[] {
  return h.model.requests.filter((r) => !r.side && JSON.stringify(r.body ?? '').includes(text)).map((r) => JSON.stringify(r.body));
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('expected the workflow to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

const ccflowCli = (h: Harness, args: string[]) =>
  execFileAsync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address },
  });

describe('pipeline', () => {
  let h: Harness;

  before(async () => {
    const example = parseScript(JSON.parse(await readFile(EXAMPLE_SCRIPT, 'utf8')));
    h = await startHarness({ script: { conversations: [...example.conversations, ...testConversations] } });
    await h.startWorker();
  });
  after(async () => {
    await h?.close();
  });

  test('fan-out, join, templates, a session carried on, one conditional step run and one skipped', async () => {
    const result = (await h.client.workflow.execute('pipeline', {
      taskQueue: h.taskQueue,
      workflowId: 'pl-fan',
      args: [fanOut],
    })) as PipelineResult;

    await recordHistory(h.server.address, 'pl-fan');
    await recordHistory(h.server.address, 'pl-fan.review');
    const state = Object.fromEntries(Object.entries(result.steps).map(([k, v]) => [k, v.state]));
    assert.deepEqual(state, { plan: 'done', implement: 'done', docs: 'done', review: 'done', fix: 'done', ship: 'skipped' });
    assert.equal(result.ok, true);
    assert.deepEqual(result.skipped, ['ship']);
    assert.equal(result.steps.ship?.reason, 'condition is false: steps.review.result.approved == true');
    assert.deepEqual(result.steps.review?.result, { approved: false, comments: ['a.txt needs a fix'] });
    assert.deepEqual(result.steps.fix?.result, { summary: 'fixed a.txt' });
    assert.equal(result.steps.plan?.workflowId, 'pl-fan.plan');

    // Templates: the rendered prompts reached the model.
    assert.equal(bodiesWith(h, 'Create these files: [\\n  \\"a.txt\\",\\n  \\"b.txt\\"\\n]').length > 0, true, 'list rendered as JSON');
    assert.ok(bodiesWith(h, 'Document the a/b files.').length > 0, 'input rendered');
    const review = bodiesWith(h, '[pl-review]');
    assert.ok(
      review.some((b) => b.includes('Author: created a.txt and b.txt. Docs: wrote the docs.')),
      'the join saw both branches',
    );
    // workspace: from:implement — the reviewer's fresh sandbox held the implementer's files.
    assert.ok(
      review.some((b) => b.includes('alpha\\nbeta')),
      'cat a.txt b.txt in the review sandbox',
    );
    // session: continue:implement — the fix resumed the plan/implement conversation.
    const fix = bodiesWith(h, 'Please fix: a.txt needs a fix');
    assert.ok(
      fix.some((b) => b.includes('Implemented.') && b.includes('Planned.')),
      'the fix step remembers plan and implement',
    );
    assert.equal(result.steps.fix?.sessionId, result.steps.plan?.sessionId, 'one Claude session across plan, implement, fix');
    assert.equal(bodiesWith(h, '[pl-ship]').length, 0, 'the skipped step never ran');

    // Totals add up; every step's sandbox is gone.
    const steps = Object.values(result.steps);
    assert.equal(
      result.numTurns,
      steps.reduce((s, x) => s + x.numTurns, 0),
    );
    assert.ok(Math.abs(result.totalCostUsd - steps.reduce((s, x) => s + x.costUsd, 0)) < 1e-9);
    for (const name of Object.keys(result.steps)) {
      assert.deepEqual(await h.provider.list({ metadata: { workflowId: `pl-fan.${name}` } }), [], `sandbox of ${name}`);
    }
  });

  test('spec errors are rejected before anything runs, naming the step', async () => {
    const cyclic = await h.client.workflow.start('pipeline', {
      taskQueue: h.taskQueue,
      workflowId: 'pl-cycle',
      args: [
        {
          steps: [
            { name: 'a', prompt: '[pl-one] a', dependsOn: ['c'] },
            { name: 'b', prompt: '[pl-one] b', dependsOn: ['a'] },
            { name: 'c', prompt: '[pl-one] c', dependsOn: ['b'] },
          ],
        },
      ],
    });
    const failure = await failureOf(cyclic.result());
    assert.equal(failure.type, 'InvalidPipelineSpec');
    assert.equal(failure.nonRetryable, true);
    assert.match(failure.message, /^invalid pipeline: steps "[abc]" → "[abc]" → "[abc]" → "[abc]" form a cycle in dependsOn$/);

    const bad = await h.client.workflow.start('pipeline', {
      taskQueue: h.taskQueue,
      workflowId: 'pl-bad',
      args: [
        {
          steps: [
            { name: 'plan', prompt: '[pl-one] plan' },
            { name: 'review', prompt: '{{steps.plan.result.summary}}', dependsOn: ['plann'] },
            { name: 'fix', prompt: 'x', dependsOn: ['plan'], when: 'steps.review.result.approved == false' },
          ],
        },
      ],
    });
    const badFailure = await failureOf(bad.result());
    assert.match(badFailure.message, /step "review": dependsOn names unknown step "plann"/);
    assert.match(badFailure.message, /step "review": prompt references step "plan", which is not among its dependencies/);
    assert.match(badFailure.message, /step "fix": when references step "review", which is not among its dependencies/);
    // Nothing ran: no child workflow was started.
    const children = await h.client.workflow.list({ query: `WorkflowId STARTS_WITH "pl-bad."` });
    for await (const _ of children) assert.fail('no step may start');
    assert.equal(bodiesWith(h, '[pl-one] plan').length, 0);
  });

  test('ccflow pipeline run shows each step and prints the results; the Temporal CLI takes @spec.json', async () => {
    const { stdout, stderr } = await ccflowCli(h, ['pipeline', 'run', EXAMPLE_YAML, '--id', 'pl-example']);
    // States as they change, on stderr.
    for (const line of [/plan +running +pl-example\.plan/, /plan +done +\d+ turns · \$\d/, /review +done/, /fix +done/]) {
      assert.match(stderr, line);
    }
    assert.ok(stderr.indexOf('implement      running') < stderr.indexOf('review         running'), stderr);
    // Results on stdout.
    assert.match(stdout, /pipeline pl-example \(plan-implement-review\): 4 done, 0 skipped, 0 failed/);
    assert.match(stdout, /"files": \[\n\s+"src\/slugify\.js"\n\s+\]/);
    assert.match(stdout, /"approved": false/);
    assert.match(stdout, /slugify now drops empty words/);
    // The reviewer really ran the implementer's code and saw the bug.
    assert.ok(bodiesWith(h, 'Review the change').some((b) => b.includes('\\"-hello-world-\\"')));

    const specFile = path.join(h.tmp, 'one-step.json');
    await writeFile(specFile, JSON.stringify({ steps: [{ name: 'only', prompt: '[pl-one] Just this.' }] }));
    const address = ['--address', h.server.address];
    await ccflowCli(h, [
      'temporal',
      'workflow',
      'start',
      ...address,
      '--type',
      'pipeline',
      '--task-queue',
      'ccflow',
      '--workflow-id',
      'pl-cli',
      '--input',
      `@${specFile}`,
    ]);
    const out = await ccflowCli(h, ['temporal', 'workflow', 'result', ...address, '--workflow-id', 'pl-cli', '--output', 'json']);
    const parsed = JSON.parse(out.stdout) as { status?: string; result?: PipelineResult };
    assert.equal(parsed.status, 'COMPLETED');
    assert.deepEqual(parsed.result?.steps.only?.result, { summary: 'one step' });
  });

  test('cancelling a pipeline cancels its running steps and tears down every sandbox', async () => {
    const handle = await h.client.workflow.start('pipeline', {
      taskQueue: h.taskQueue,
      workflowId: 'pl-cancel',
      args: [
        {
          steps: [
            { name: 'left', prompt: '[pl-slow] left' },
            { name: 'right', prompt: '[pl-slow] right' },
            { name: 'after', prompt: '[pl-one] after', dependsOn: ['left', 'right'] },
          ],
        },
      ],
    });
    // Wait until both agents are mid-request (the model holds its answer).
    const deadline = Date.now() + 120_000;
    while (bodiesWith(h, '[pl-slow] left').length === 0 || bodiesWith(h, '[pl-slow] right').length === 0) {
      assert.ok(Date.now() < deadline, 'both steps should reach the model');
      await sleep(200);
    }
    const live = await h.provider.list({});
    assert.ok(live.some((s) => s.metadata.workflowId === 'pl-cancel.left'));
    assert.ok(live.some((s) => s.metadata.workflowId === 'pl-cancel.right'));

    await handle.cancel();
    const err = await handle.result().then(
      () => assert.fail('expected cancellation'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));

    for (const step of ['left', 'right']) {
      const child = h.client.workflow.getHandle(`pl-cancel.${step}`);
      assert.equal((await child.describe()).status.name, 'CANCELLED', step);
      assert.equal((await child.query(statusQuery)).phase, 'failed');
      assert.deepEqual(await h.provider.list({ metadata: { workflowId: `pl-cancel.${step}` } }), [], `sandbox of ${step}`);
    }
    const status = await handle.query(pipelineStatusQuery);
    assert.deepEqual(
      status.steps.map((s) => [s.name, s.state]),
      [
        ['left', 'cancelled'],
        ['right', 'cancelled'],
        ['after', 'skipped'],
      ],
    );
    assert.equal(bodiesWith(h, '[pl-one] after').length, 0);
  });
});
