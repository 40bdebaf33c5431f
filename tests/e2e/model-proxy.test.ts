/**
 * The model proxy with the real CLI in a real jail: every model request of a task passes
 * through it, so a budget holds even for requests the CLI never made (an agent calling the
 * model API itself with its token), and the answer streams back as it comes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { WorkflowFailedError } from '@temporalio/client';

import type { TaskResult } from '../../src/schemas/task-spec.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { bash, failureTypeOf, seenBy, shellQuote, submit } from '../escapes/helpers.js';

/** The agent spends through its own requests: three 1M-token calls at $3 each (sonnet prices). */
const SPEND = `
const http = require('http');
(async () => {
  for (let i = 0; i < 3; i++) {
    const status = await new Promise((resolve) => {
      const r = http.request({ socketPath: process.env.ANTHROPIC_UNIX_SOCKET, path: '/v1/messages', method: 'POST',
        headers: { 'x-api-key': process.env.ANTHROPIC_API_KEY, 'content-type': 'application/json' } }, (res) => { res.resume(); resolve(res.statusCode); });
      r.on('error', (e) => resolve(e.code));
      r.end(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, tools: [{ name: 'noop', description: 'nothing', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: '[side-spend] spend' }] }));
    });
    console.log('side request ' + i + ' -> ' + status);
  }
})();`;

let h: Harness;

before(async () => {
  h = await startHarness({
    script: {
      conversations: [
        { name: 'side', match: '\\[side-spend\\]', steps: [{ text: 'expensive', usage: { inputTokens: 1_000_000, outputTokens: 10 } }] },
        {
          name: 'spender',
          match: '\\[spender\\]',
          steps: [bash(`/opt/ccflow/bin/node -e ${shellQuote(SPEND)}`), submit('spent'), { text: 'Done.' }],
        },
        {
          name: 'metered',
          match: '\\[metered\\]',
          steps: [
            { text: 'Thinking.', ...bash('echo hi'), usage: { inputTokens: 2000, outputTokens: 100 } },
            submit('metered'),
            { text: 'Done.' },
          ],
        },
      ],
    },
  });
  await h.startWorker();
});
after(async () => h?.close());

describe('model proxy', () => {
  test('a budget is enforced at the source: requests past it are refused, and the task ends BudgetExceeded', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'proxy-budget',
      args: [{ prompt: '[spender] Spend the budget.', maxBudgetUsd: 5, timeouts: { heartbeatSeconds: 5 } }],
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, `the task failed (${String(err)})`);
    assert.equal(failureTypeOf(err), 'BudgetExceeded');
    // $3 + $3 spent; the third request, and the CLI's own next one, were refused at the proxy
    // (so the model never saw the tool's output either).
    assert.equal(
      h.model.requests.filter((r) => !r.side && JSON.stringify(r.body).includes('[side-spend]')).length,
      2,
      'the refused request never reached the model',
    );
    const refusals = h.proxyLog.filter((l) => l.includes('"reason":"budget"') && l.includes('"task":"proxy-budget"'));
    assert.ok(refusals.length >= 2, h.proxyLog.join('\n'));
    assert.equal(seenBy(h, 'spender'), '', 'no tool output reached the model after the budget was spent');
  });

  test('what a run spends is metered by the proxy and matches what the CLI reports', async () => {
    const result = (await (
      await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'proxy-metered',
        args: [{ prompt: '[metered] Work.' }],
      })
    ).result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'metered' });
    const history = await h.client.workflow.getHandle('proxy-metered').fetchHistory();
    const runOutputs = (history.events ?? [])
      .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
      .filter((d): d is Uint8Array => d !== undefined && d !== null)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as { metered?: { requests: number; costUsd: number }; costUsd?: number })
      .filter((o) => o.metered !== undefined);
    assert.equal(runOutputs.length, 1);
    const run = runOutputs[0]!;
    assert.ok(run.metered!.requests >= 3, `requests seen by the proxy: ${run.metered!.requests}`);
    assert.ok(
      Math.abs(run.metered!.costUsd - (run.costUsd ?? -1)) < 1e-9 + 0.01 * run.metered!.costUsd,
      `proxy $${run.metered!.costUsd} vs CLI $${run.costUsd}`,
    );
    assert.ok(!h.proxyLog.some((l) => l.includes('refused') && l.includes('proxy-metered')), h.proxyLog.join('\n'));
  });
});
