/**
 * A task open for a week with a hundred follow-ups: it continues as new before its history
 * grows past a bound, and still behaves as one task (one sandbox, one session, totals over
 * every turn, torn down once).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RunClaudeInput } from '../../src/schemas/activities.js';
import { HISTORY_EVENTS_BEFORE_CONTINUE } from '../../src/workflows/agent-task.js';
import { closeSignal, followUpUpdate, type AgentTaskWorkflow } from '../../src/workflows/messages.js';
import { startTimeSkipping, withWorker } from '../helpers/workflow-env.js';

const EventType = proto.temporal.api.enums.v1.EventType;
const DAY_SECONDS = 24 * 3600;
const FOLLOW_UPS = 100;
/** One follow-up's events (five activities, their workflow tasks, the Update, the window's timer). */
const ONE_FOLLOW_UP_EVENTS = 60;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

test('a week-long open task with a hundred follow-ups stays under the history bound', async () => {
  await withWorker(env, {}, async ({ taskQueue, fake }) => {
    const handle = await env.client.workflow.start<AgentTaskWorkflow>('agentTask', {
      taskQueue,
      workflowId: 'week-long',
      args: [{ prompt: 'first', keepAliveSeconds: 7 * DAY_SECONDS, timeouts: { taskSeconds: 8 * DAY_SECONDS } }],
    });
    for (let i = 1; i <= FOLLOW_UPS; i++) {
      await env.sleep('100 minutes'); // a hundred follow-ups spread over a week
      const r = await handle.executeUpdate(followUpUpdate, { args: [{ prompt: `follow-up ${i}` }] });
      assert.equal(r.turn, i + 1);
      assert.equal(r.totalNumTurns, i + 1, 'totals count every turn, across runs');
    }
    await handle.signal(closeSignal);
    const result = await handle.result();

    // Follow the run chain from the first run; every run's history is bounded.
    const lengths: number[] = [];
    for (let runId: string | undefined = handle.firstExecutionRunId; runId;) {
      const events: proto.temporal.api.history.v1.IHistoryEvent[] =
        (await env.client.workflow.getHandle('week-long', runId).fetchHistory()).events ?? [];
      lengths.push(events.length);
      const last: proto.temporal.api.history.v1.IHistoryEvent | undefined = events.at(-1);
      runId =
        last?.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
          ? (last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined)
          : undefined;
    }
    assert.ok(lengths.length >= 2, `the task continued as new (runs: ${lengths.join(', ')})`);
    for (const n of lengths) assert.ok(n <= HISTORY_EVENTS_BEFORE_CONTINUE + ONE_FOLLOW_UP_EVENTS, `a run has ${n} events`);

    assert.equal(result.numTurns, FOLLOW_UPS + 1);
    assert.equal(result.turns?.at(-1)?.turn, FOLLOW_UPS + 1);
    assert.equal(result.turns?.at(-1)?.prompt, `follow-up ${FOLLOW_UPS}`);
    // One sandbox and one session the whole week, torn down once at the end.
    assert.equal(fake.inputs('createSandbox').length, 1);
    assert.equal(fake.inputs('destroySandbox').length, 1);
    const runs = fake.inputs<RunClaudeInput>('runClaude');
    assert.ok(runs.slice(1).every((r) => r.resumeSessionId === runs[0]?.newSessionId));
    assert.equal(new Set(runs.map((r) => r.runName)).size, runs.length, 'run names stay unique across runs');
  });
});
