/**
 * agentTask's own logic, fast: keep-alive windows, the close signal, the follow-up queue,
 * the deadline, the budget, lost sandboxes, corrective resumes and cancellation, with
 * activities faked and time skipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import type { DestroySandboxInput, RunClaudeInput } from '../../src/schemas/activities.js';
import type { TaskSpecInput } from '../../src/schemas/task-spec.js';
import { closeSignal, followUpUpdate, statusQuery, type AgentTaskWorkflow } from '../../src/workflows/messages.js';
import { eventually, failure, runUntilCancelled, startTimeSkipping, withWorker } from '../helpers/workflow-env.js';

const EventType = proto.temporal.api.enums.v1.EventType;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

let seq = 0;
function start(taskQueue: string, spec: TaskSpecInput): Promise<WorkflowHandle<AgentTaskWorkflow>> {
  return env.client.workflow.start<AgentTaskWorkflow>('agentTask', { taskQueue, workflowId: `task-${++seq}`, args: [spec] });
}

/** The ApplicationFailure a workflow failed with. */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err: unknown = await p.then(
    () => assert.fail('expected the task to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

const HOUR = 3_600_000;

/** When the last event of a type happened, in workflow time (ms). */
async function eventTime(h: WorkflowHandle, type: string): Promise<number> {
  const events = (await h.fetchHistory()).events ?? [];
  const name = `EVENT_TYPE_${type}`;
  const e = events.filter((x) => x.eventType !== undefined && x.eventType !== null && (EventType[x.eventType] as string) === name).at(-1);
  assert.ok(e?.eventTime, `no ${type} event`);
  return Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6);
}

describe('keep-alive window', () => {
  test('ends the task when it passes without a follow-up, restarting after each one', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 3600 });
      await eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));
      await env.sleep(50 * 60_000);
      const followUp = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'second' }] });
      assert.equal(followUp.turn, 2);
      // 50 minutes after the follow-up: still open, because the window restarted.
      await env.sleep(50 * 60_000);
      assert.equal((await h.query(statusQuery)).phase, 'open');
      const result = await h.result();
      assert.deepEqual(
        result.turns?.map((t) => t.prompt),
        ['first', 'second'],
      );
      // It closed one window (an hour) after the follow-up, not an hour after the first turn.
      const closedAfter =
        (await eventTime(h, 'WORKFLOW_EXECUTION_COMPLETED')) - (await eventTime(h, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'));
      assert.ok(Math.abs(closedAfter - HOUR) < 60_000, `closed ${closedAfter} ms after the follow-up`);
      assert.equal(fake.inputs<DestroySandboxInput>('destroySandbox').length, 1);
    });
  });

  test('the close signal ends it at once, long before its window; a later follow-up fails', async () => {
    await withWorker(env, {}, async ({ taskQueue }) => {
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 7 * 24 * 3600 });
      await eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));
      await h.signal(closeSignal);
      const result = await h.result();
      const openFor = (await eventTime(h, 'WORKFLOW_EXECUTION_COMPLETED')) - (await eventTime(h, 'WORKFLOW_EXECUTION_STARTED'));
      assert.ok(openFor < HOUR, `closed ${openFor} ms after it started, not at the end of its week-long window`);
      assert.equal(result.turns?.length, 1);
      const refused: unknown = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'late' }] }).catch((e: unknown) => e);
      assert.ok(refused instanceof Error, 'a follow-up to a closed task fails');
    });
  });
});

describe('follow-up queue', () => {
  test('follow-ups sent while the first turn runs wait for it, then run in the order they were sent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await withWorker(env, { run: async (_input, n) => (n === 0 ? gate.then(() => ({})) : {}) }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 600 });
      await eventually('the first run to start', async () => (fake.calls.some((c) => c.name === 'runClaude') ? true : undefined));
      const updates = [];
      for (const prompt of ['second', 'third', 'fourth']) {
        updates.push(await h.startUpdate(followUpUpdate, { args: [{ prompt }], waitForStage: WorkflowUpdateStage.ACCEPTED }));
      }
      assert.equal(fake.inputs('runClaude').length, 1, 'no follow-up ran before the first turn ended');
      release();
      const results = await Promise.all(updates.map((u) => u.result()));
      assert.deepEqual(
        results.map((r) => r.turn),
        [2, 3, 4],
      );
      const prompts = fake.inputs<RunClaudeInput>('runClaude').map((r) => r.prompt.split('\n')[0]);
      assert.deepEqual(prompts, ['first', 'second', 'third', 'fourth']);
      // Every follow-up resumed the session of the first turn.
      const first = fake.inputs<RunClaudeInput>('runClaude')[0]?.newSessionId;
      assert.ok(
        fake
          .inputs<RunClaudeInput>('runClaude')
          .slice(1)
          .every((r) => r.resumeSessionId === first),
      );
      await h.signal(closeSignal);
      assert.equal((await h.result()).turns?.length, 4);
    });
  });

  test('a failed follow-up fails its Update and leaves the task open', async () => {
    await withWorker(
      env,
      { run: (input) => (input.prompt.startsWith('break') ? Promise.reject(failure('MaxTurnsExceeded', 'used up')) : {}) },
      async ({ taskQueue }) => {
        const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 600 });
        const err: unknown = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'break it' }] }).catch((e: unknown) => e);
        assert.match(String((err as Error).cause ?? err), /MaxTurnsExceeded|used up/);
        const ok = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'again' }] });
        assert.equal(ok.turn, 3);
        const status = await h.query(statusQuery);
        assert.match(status.turns[1]?.error ?? '', /MaxTurnsExceeded/);
        await h.signal(closeSignal);
        await h.result();
      },
    );
  });
});

describe('limits', () => {
  test('past its deadline the agent is cancelled, the sandbox destroyed, and the task fails TaskTimedOut', async () => {
    // Time skips while the workflow waits, not while an activity runs: the agent moves the clock itself.
    const run = async () => {
      await env.sleep(3 * HOUR);
      return runUntilCancelled();
    };
    await withWorker(env, { run }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'forever', timeouts: { taskSeconds: 2 * 3600, heartbeatSeconds: 24 * 3600 } });
      const f = await failureOf(h.result());
      assert.equal(f.type, 'TaskTimedOut');
      assert.match(f.message, /longer than its limit of 7200 s/);
      assert.equal(fake.inputs('destroySandbox').length, 1);
    });
  });

  test('the budget bounds the whole task: each run gets what is left, and spending it ends the task', async () => {
    const invalid = { status: 'invalid' as const, errors: ['summary: expected string'] };
    await withWorker(env, { fetch: () => invalid }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'costly', maxBudgetUsd: 0.025, resultRetries: 10 });
      const f = await failureOf(h.result());
      assert.equal(f.type, 'BudgetExceeded');
      const budgets = fake.inputs<RunClaudeInput>('runClaude').map((r) => Number(r.maxBudgetUsd?.toFixed(3)));
      assert.deepEqual(budgets, [0.025, 0.015, 0.005]);
    });
  });

  test('corrective resumes stop at resultRetries, quoting the errors to the agent', async () => {
    const invalid = { status: 'invalid' as const, errors: ['summary: expected string, received number'] };
    await withWorker(env, { fetch: () => invalid }, async ({ taskQueue, fake }) => {
      const f = await failureOf((await start(taskQueue, { prompt: 'never valid', resultRetries: 2 })).result());
      assert.equal(f.type, 'InvalidResult');
      assert.match(f.message, /after 3 agent run\(s\)/);
      const runs = fake.inputs<RunClaudeInput>('runClaude');
      assert.equal(runs.length, 3);
      assert.ok(
        runs.slice(1).every((r) => r.resumeSessionId === runs[0]?.newSessionId && r.prompt.includes('expected string, received number')),
      );
    });
  });
});

describe('lost sandboxes', () => {
  test('a sandbox lost under the agent means a fresh start in a new one; all are torn down', async () => {
    const run = (_input: RunClaudeInput, n: number) => (n === 0 ? Promise.reject(failure('SandboxLost')) : {});
    await withWorker(env, { run }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'fragile', files: { 'a.txt': 'a' } });
      const result = await h.result();
      assert.equal(result.sandboxId, 'sbx-2');
      assert.equal((await h.query(statusQuery)).sandboxRestarts, 1);
      assert.deepEqual(
        fake.inputs<{ files?: unknown }>('createSandbox').map((c) => c.files),
        [{ 'a.txt': 'a' }, { 'a.txt': 'a' }],
      );
      assert.deepEqual(
        fake
          .inputs<DestroySandboxInput>('destroySandbox')
          .map((d) => d.sandboxId)
          .sort(),
        ['sbx-1', 'sbx-2'],
      );
    });
  });

  test('after two restarts a third loss fails the task', async () => {
    await withWorker(env, { run: () => Promise.reject(failure('SandboxLost')) }, async ({ taskQueue, fake }) => {
      const f = await failureOf((await start(taskQueue, { prompt: 'doomed' })).result());
      assert.equal(f.type, 'SandboxLost');
      assert.equal(fake.inputs('createSandbox').length, 3);
      assert.equal(fake.inputs('destroySandbox').length, 3);
    });
  });

  test('a follow-up whose sandbox is gone restores the session into a new one', async () => {
    await withWorker(env, { alive: (id) => id !== 'sbx-1' }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 600 });
      const r = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'second' }] });
      assert.equal(r.restored, true);
      assert.equal(r.sandboxId, 'sbx-2');
      assert.deepEqual(
        fake.inputs<{ fromWorkflowId: string }>('restoreSession').map((x) => x.fromWorkflowId),
        [h.workflowId],
      );
      await h.signal(closeSignal);
      await h.result();
    });
  });
});

describe('cancellation', () => {
  test('cancels the running agent, tears the sandbox down, and ends the task cancelled', async () => {
    await withWorker(env, { run: runUntilCancelled }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'long' });
      await eventually('the agent to run', async () => ((await h.query(statusQuery)).phase === 'running' ? true : undefined));
      await h.cancel();
      const err: unknown = await h.result().catch((e: unknown) => e);
      assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, String(err));
      assert.equal(fake.inputs('destroySandbox').length, 1);
    });
  });
});
