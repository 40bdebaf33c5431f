/**
 * Fault injection against real processes: a SIGKILLed worker, a restarted Temporal server,
 * model errors and stalls, a sandbox destroyed from outside, and cancellation. After every
 * test no agent process and no sandbox may remain.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { processesWithKey, startHarness, type Harness } from '../helpers/harness.js';
import { sweepOrphans } from '../../src/worker/index.js';
import { recordHistory } from '../helpers/histories.js';

const submit = (summary: string) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary } }] });
const bash = (command: string) => ({ toolUse: [{ name: 'Bash', input: { command } }] });

/** Polls until `check` holds (bounded), for events that happen in other processes. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Main (non-side) model requests of one script conversation, by its prompt tag. */
function requestsFor(h: Harness, tag: string) {
  return h.model.requests.filter((r) => !r.side && JSON.stringify(r.body ?? '').includes(tag));
}

async function failureOf(promise: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await promise.then(
    () => assert.fail('expected the workflow to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  return err;
}

/** Activity attempts recorded in history, with the failure each retry followed. */
async function runClaudeAttempts(handle: WorkflowHandle): Promise<Array<{ attempt: number; lastFailure?: string }>> {
  const history = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const out: Array<{ attempt: number; lastFailure?: string }> = [];
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === 'runClaude') {
      const f = started.lastFailure;
      out.push({
        attempt: started.attempt ?? 1,
        lastFailure: f ? `${f.applicationFailureInfo?.type ?? ''}: ${f.message ?? ''}` : undefined,
      });
    }
  }
  return out;
}

async function sandboxDirs(h: Harness): Promise<string[]> {
  return readdir(path.join(h.tmp, 'sandboxes')).catch(() => []);
}

/** The leak check every test ends with. */
async function assertNothingLeft(h: Harness): Promise<void> {
  await until('no agent process remains', async () => (await processesWithKey(h.apiKey)).length === 0, 20_000);
  assert.deepEqual(await sandboxDirs(h), [], 'no sandbox directory remains');
}

const quick = { heartbeatSeconds: 5 };

describe('faults: worker and server crashes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      persistent: true,
      script: {
        conversations: [
          {
            match: '\\[crash\\]',
            steps: [
              { text: 'Working.', ...bash('echo step1 > progress.txt') },
              // The model is slow once: long enough to kill the worker while the agent waits.
              { delayMs: 6_000, delayTimes: 1, ...submit('survived a worker crash') },
              { text: 'Done.' },
            ],
          },
          {
            match: '\\[restart\\]',
            steps: [
              { text: 'Working.', ...bash('echo step1 > progress.txt') },
              { delayMs: 6_000, delayTimes: 1, ...submit('survived a server restart') },
              { text: 'Done.' },
            ],
          },
        ],
      },
    });
  });
  after(async () => h?.close());
  afterEach(async () => assertNothingLeft(h));

  test('SIGKILL the worker mid-run: a new worker reattaches, the conversation is not started again', async () => {
    const first = await h.spawnWorker();
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-crash',
      args: [{ prompt: '[crash] Do the work.', timeouts: quick }],
    });
    // Kill the worker while the agent waits on the slow model turn.
    await until('the agent reached its second turn', () => requestsFor(h, '[crash]').some((r) => r.stepIndex === 1));
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    assert.ok((await processesWithKey(h.apiKey)).length > 0, 'the agent outlives its worker');

    const second = await h.spawnWorker();
    try {
      const result = (await handle.result()) as TaskResult;
      assert.deepEqual(result.result, { summary: 'survived a worker crash' });
      // One first-turn request: the retried activity followed the running agent.
      assert.equal(requestsFor(h, '[crash]').filter((r) => r.stepIndex === 0).length, 1);
      const attempts = await runClaudeAttempts(handle);
      assert.equal(attempts.length, 1, 'one runClaude activity');
      assert.ok((attempts[0]?.attempt ?? 0) >= 2, `the activity was retried (attempt ${attempts[0]?.attempt})`);
      assert.match(attempts[0]?.lastFailure ?? '', /heartbeat/i);
      // The timed-out attempt's heartbeat details are in history now: still no key there.
      assert.ok(!JSON.stringify(await handle.fetchHistory()).includes(h.apiKey));
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
    }
  });

  test('stop and restart the Temporal server mid-run: the task completes', async () => {
    const worker = await h.startWorker();
    try {
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'fault-restart',
        args: [{ prompt: '[restart] Do the work.', timeouts: quick }],
      });
      await until('the agent reached its second turn', () => requestsFor(h, '[restart]').some((r) => r.stepIndex === 1));
      await h.restartServer();
      const result = (await h.client.workflow.getHandle(handle.workflowId).result()) as TaskResult;
      assert.deepEqual(result.result, { summary: 'survived a server restart' });
      assert.equal(requestsFor(h, '[restart]').filter((r) => r.stepIndex === 0).length, 1);
    } finally {
      worker.shutdown();
    }
  });
});

describe('faults: model errors, stalls, lost sandboxes, cancellation', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({
      script: {
        conversations: [
          {
            match: '\\[overloaded\\]',
            // 529 with "do not retry": the CLI gives up at once, so ccflow's own retry recovers.
            steps: [
              {
                failFirst: [
                  { status: 529, shouldRetry: false },
                  { status: 529, shouldRetry: false },
                ],
                failScope: 'conversation',
                ...submit('after two 529s'),
              },
              { text: 'Done.' },
            ],
          },
          { match: '\\[badkey\\]', steps: [{ error: { status: 401, message: 'invalid x-api-key' } }] },
          {
            match: '\\[stall\\]',
            steps: [
              { text: 'Thinking.', ...bash('true') },
              { delayMs: 60_000, delayTimes: 1, ...submit('after a stall') },
              { text: 'Done.' },
            ],
          },
          {
            match: '\\[lost\\]',
            steps: [
              { text: 'Working.', ...bash('echo hi > a.txt') },
              { delayMs: 5_000, delayTimes: 1, ...submit('in a fresh sandbox') },
              { text: 'Done.' },
            ],
          },
          {
            match: '\\[big\\]',
            steps: [
              { text: 'Printing a lot.', ...bash("head -c 10000000 /dev/zero | tr '\\0' x; echo") },
              submit('printed 10 MB'),
              { text: 'Done.' },
            ],
          },
          {
            match: '\\[cancel\\]',
            steps: [{ text: 'Working.', ...bash('tail -f /dev/null') }],
          },
        ],
      },
    });
    await h.startWorker();
  });
  after(async () => h?.close());
  afterEach(async () => assertNothingLeft(h));

  test('the model answers 529 twice, then succeeds: the task succeeds after ccflow retries', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-529',
      args: [{ prompt: '[overloaded] Summarize.', timeouts: quick }],
    });
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'after two 529s' });
    const statuses = requestsFor(h, '[overloaded]')
      .filter((r) => r.stepIndex === 0)
      .map((r) => r.status);
    assert.deepEqual(statuses, [529, 529, 200]);
    const attempts = await runClaudeAttempts(handle);
    assert.equal(attempts.at(-1)?.attempt, 3);
    assert.match(attempts.at(-1)?.lastFailure ?? '', /^ModelUnavailable: .*529/);
  });

  test('the model answers 401: the task fails fast, non-retryable, saying the key was rejected', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-401',
      args: [{ prompt: '[badkey] Summarize.', timeouts: quick }],
    });
    const err = await failureOf(handle.result());
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'ModelAuthFailed');
    assert.equal(err.cause.nonRetryable, true);
    assert.match(err.cause.message, /rejected the API key/);
    assert.equal(requestsFor(h, '[badkey]').length, 1, 'no retry of a bad key');
    const details = err.cause.details?.[0] as { stderrTail?: string; recentEvents?: string[] };
    assert.ok(Array.isArray(details.recentEvents) && details.recentEvents.length > 0, 'the last stream events are attached');
  });

  test('the model stalls: the watchdog kills the agent and the retry succeeds', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-stall',
      args: [{ prompt: '[stall] Summarize.', timeouts: { ...quick, stallSeconds: 5 } }],
    });
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'after a stall' });
    await recordHistory(h.server.address, handle.workflowId);
    const attempts = await runClaudeAttempts(handle);
    // 2 unless a loaded machine made a retried claude start slower than the watchdog allows.
    assert.ok((attempts.at(-1)?.attempt ?? 0) >= 2, `attempt ${attempts.at(-1)?.attempt}`);
    assert.match(attempts.at(-1)?.lastFailure ?? '', /^AgentStalled: no output from the agent/);
  });

  test('the sandbox is destroyed from outside mid-run: SandboxLost, then success in a fresh sandbox', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-lost',
      args: [{ prompt: '[lost] Summarize.', timeouts: quick }],
    });
    await until('the agent reached its second turn', () => requestsFor(h, '[lost]').some((r) => r.stepIndex === 1));
    const [victim] = await h.provider.list({ metadata: { workflowId: 'fault-lost' } });
    assert.ok(victim);
    await h.provider.destroy(victim.sandboxId);

    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'in a fresh sandbox' });
    await recordHistory(h.server.address, handle.workflowId);
    assert.notEqual(result.sandboxId, victim.sandboxId);
    const status = (await handle.query('status')) as { sandboxRestarts?: number };
    assert.equal(status.sandboxRestarts, 1);
  });

  test('cancel mid-run: the workflow ends cancelled, no agent process and no sandbox remain', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-cancel',
      args: [{ prompt: '[cancel] Run the long job.', timeouts: quick }],
    });
    await until('the agent runs its long tool', async () => {
      for (const pid of await processesWithKey(h.apiKey)) {
        if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).startsWith('tail\0-f')) return true;
      }
      return false;
    });
    await handle.cancel();
    const err = await failureOf(handle.result());
    assert.ok(err.cause instanceof CancelledFailure, `expected CancelledFailure, got ${String(err.cause)}`);
    const desc = await handle.describe();
    assert.equal(desc.status.name, 'CANCELLED');
    await recordHistory(h.server.address, handle.workflowId);
    // The cancelled activity reported its progress on the way out.
    const history = await handle.fetchHistory();
    const canceled = history.events?.find((e) => e.activityTaskCanceledEventAttributes);
    assert.ok(canceled, 'the runClaude activity ended cancelled');
    assert.equal(existsSync(path.join(h.tmp, 'sandboxes')), true);
  });

  test('a 10 MB tool output stays out of workflow history but is kept in the transcript', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fault-big-output',
      args: [{ prompt: '[big] Print a lot.', timeouts: quick }],
    });
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'printed 10 MB' });
    const history = JSON.stringify(await handle.fetchHistory());
    assert.ok(history.length < 64 * 1024, `history is ${history.length} bytes`);
    assert.ok(!history.includes('x'.repeat(1000)), 'no tool output in history');
    assert.ok(!history.includes(h.apiKey), 'no API key in history');
    const transcript = await readFile(path.join(result.artifactsDir ?? '', 'runs/run-1/a1/transcript.jsonl'), 'utf8');
    assert.ok(transcript.includes('x'.repeat(1000)), 'the transcript keeps the tool output');
  });

  test('ccflow sweep destroys sandboxes whose task is closed or gone, and keeps the rest', async () => {
    // An open task: started on a queue nobody polls, so it stays running.
    const open = await h.client.workflow.start('agentTask', {
      taskQueue: 'nobody-polls',
      workflowId: 'sweep-open',
      args: [{ prompt: 'x' }],
    });
    const running = await h.provider.create({ metadata: { owner: 'ccflow', workflowId: 'sweep-open' } });
    const missing = await h.provider.create({ metadata: { owner: 'ccflow', workflowId: 'sweep-never-existed' } });
    const closed = await h.provider.create({ metadata: { owner: 'ccflow', workflowId: 'fault-401' } });
    try {
      const young = await sweepOrphans({ providers: [h.provider], client: h.client, graceMs: 3_600_000 });
      assert.deepEqual(
        young.map((d) => d.action),
        ['kept', 'kept', 'kept'],
        'nothing younger than the grace period goes',
      );

      const dry = await sweepOrphans({ providers: [h.provider], client: h.client, graceMs: 0, dryRun: true });
      assert.equal(dry.filter((d) => d.action === 'would-destroy').length, 2);
      assert.equal((await h.provider.list()).length, 3, 'a dry run destroys nothing');

      const decisions = await sweepOrphans({ providers: [h.provider], client: h.client, graceMs: 0 });
      const by = new Map(decisions.map((d) => [d.sandboxId, d]));
      assert.equal(by.get(running.sandboxId)?.action, 'kept');
      assert.equal(by.get(missing.sandboxId)?.action, 'destroyed');
      assert.match(by.get(missing.sandboxId)?.reason ?? '', /does not exist/);
      assert.equal(by.get(closed.sandboxId)?.action, 'destroyed');
      assert.match(by.get(closed.sandboxId)?.reason ?? '', /failed/);
      assert.deepEqual(
        (await h.provider.list()).map((s) => s.sandboxId),
        [running.sandboxId],
      );
    } finally {
      await open.terminate('test over');
      await h.provider.destroy(running.sandboxId);
    }
  });
});
