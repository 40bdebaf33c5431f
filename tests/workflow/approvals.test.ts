/**
 * Human approval in agentTask, fast: a faked agent run ends holding a call, the task waits
 * (for hours where the test says so: time is skipped), releases its sandbox after the grace
 * period, and resumes with the answer, the timeout's denial, or fails as onTimeout says.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';
import type { DestroySandboxInput, RunClaudeInput } from '../../src/schemas/activities.js';
import type { DeferredCallSummary } from '../../src/schemas/approvals.js';
import type { RestoreSessionInput, SaveSessionInput } from '../../src/schemas/sessions.js';
import type { TaskSpecInput } from '../../src/schemas/task-spec.js';
import {
  approveUpdate,
  pipelineStatusQuery,
  statusQuery,
  type AgentTaskWorkflow,
  type PipelineWorkflow,
} from '../../src/workflows/messages.js';
import { CcflowWaiting } from '../../src/workflows/search-attributes.js';
import { eventually, startTimeSkipping, withWorker, type FakeScript } from '../helpers/workflow-env.js';

const EventType = proto.temporal.api.enums.v1.EventType;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

const HOUR = 3_600_000;
const RULE = 'Bash(git push:*)';
const held = (id = 'toolu_1'): DeferredCallSummary => ({
  toolUseId: id,
  toolName: 'Bash',
  input: '{"command":"git push origin main"}',
  inputSha256: `sha-${id}`,
  rules: [RULE],
  agentText: 'Pushing the branch.',
});
/** The first run holds a call; every later run completes. */
const holdsOnce: FakeScript = { run: (_input, n) => (n === 0 ? { deferred: held() } : {}) };

let seq = 0;
function start(taskQueue: string, spec: Omit<TaskSpecInput, 'prompt'> = {}): Promise<WorkflowHandle<AgentTaskWorkflow>> {
  return env.client.workflow.start<AgentTaskWorkflow>('agentTask', {
    taskQueue,
    workflowId: `approval-${++seq}`,
    args: [{ prompt: 'push it', approval: { tools: [RULE] }, ...spec }],
  });
}

const waitingFor = (h: WorkflowHandle) =>
  eventually('the request to wait', async () => {
    const s = await h.query(statusQuery);
    return s.phase === 'waiting-approval' && s.approval?.pending ? s : undefined;
  });

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;

/** When each activity of a type was scheduled and completed, in workflow time (ms). */
async function activityTimes(h: WorkflowHandle, activityType: string): Promise<{ scheduled: number[]; completed: number[] }> {
  const events = (await h.fetchHistory()).events ?? [];
  const ids = new Set<string>();
  const scheduled: number[] = [];
  const completed: number[] = [];
  for (const e of events) {
    const name = e.eventType != null ? (EventType[e.eventType] as string) : '';
    if (name === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' && e.activityTaskScheduledEventAttributes?.activityType?.name === activityType) {
      ids.add(String(e.eventId));
      scheduled.push(ms(e.eventTime));
    } else if (name === 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED' && ids.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId))) {
      completed.push(ms(e.eventTime));
    }
  }
  return { scheduled, completed };
}

async function countEvents(h: WorkflowHandle, type: string): Promise<number> {
  const events = (await h.fetchHistory()).events ?? [];
  return events.filter((x) => x.eventType != null && (EventType[x.eventType] as string) === `EVENT_TYPE_${type}`).length;
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err: unknown = await p.then(
    () => assert.fail('expected the task to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

describe('a held call', () => {
  test('waits with the request in the status and the search attribute, releases the sandbox after the grace period, and the answer restores it', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue);
      const status = await waitingFor(h);
      const pending = status.approval?.pending;
      assert.deepEqual(
        {
          requestId: pending?.requestId,
          tool: pending?.toolName,
          input: pending?.input,
          rules: pending?.rules,
          text: pending?.agentText,
          turn: pending?.turn,
        },
        {
          requestId: 'req-1',
          tool: 'Bash',
          input: '{"command":"git push origin main"}',
          rules: [RULE],
          text: 'Pushing the branch.',
          turn: 1,
        },
      );
      assert.equal((await h.describe()).typedSearchAttributes.get(CcflowWaiting), 'approval');
      // The session was saved when the call was held, so the sandbox can go.
      assert.deepEqual(
        fake.inputs<SaveSessionInput>('saveSession').map((s) => [s.sandboxId, s.turn]),
        [['sbx-1', 1]],
      );
      assert.equal(fake.inputs('destroySandbox').length, 0, 'the sandbox is kept for the grace period');

      await env.sleep(301_000);
      const released = await eventually('the sandbox to be released', async () => {
        const s = await h.query(statusQuery);
        return s.approval?.pending?.sandboxReleased ? s : undefined;
      });
      assert.equal(released.phase, 'waiting-approval');
      assert.deepEqual(fake.inputs<DestroySandboxInput>('destroySandbox'), [
        { sandboxId: 'sbx-1', provider: 'local', runNames: ['run-1'] },
      ]);

      const answer = await h.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow' }] });
      assert.deepEqual(answer, { workflowId: h.workflowId, requestId: 'req-1', decision: 'allow', rememberedRules: [] });
      const result = await h.result();
      assert.equal(result.sandboxId, 'sbx-2');

      // A fresh sandbox, the session restored into it, and the run resumed with the answer.
      assert.deepEqual(
        fake.inputs<RestoreSessionInput>('restoreSession').map((r) => [r.sandboxId, r.fromWorkflowId, r.sessionId]),
        [['sbx-2', h.workflowId, fake.inputs<RunClaudeInput>('runClaude')[0]?.newSessionId]],
      );
      const resumed = fake.inputs<RunClaudeInput>('runClaude')[1];
      assert.equal(resumed?.sandboxId, 'sbx-2');
      assert.equal(resumed?.prompt, '', 'the held call is resumed with empty stdin');
      assert.equal(resumed?.resumeSessionId, fake.inputs<RunClaudeInput>('runClaude')[0]?.newSessionId);
      assert.deepEqual(resumed?.approval, {
        rules: [RULE],
        allowRules: [],
        decision: { toolUseId: 'toolu_1', decision: 'allow', inputSha256: 'sha-toolu_1', by: 'human' },
      });
      // Teardown destroys only the sandbox still standing.
      assert.deepEqual(
        fake.inputs<DestroySandboxInput>('destroySandbox').map((d) => d.sandboxId),
        ['sbx-1', 'sbx-2'],
      );
      const done = await h.query(statusQuery);
      assert.equal(done.approval?.pending, undefined);
      assert.deepEqual(
        done.approval?.answered.map((a) => [a.requestId, a.decision, a.by]),
        [['req-1', 'allow', 'human']],
      );
      assert.equal((await h.describe()).typedSearchAttributes.get(CcflowWaiting), undefined);
    });
  });

  test('an answer within the grace period resumes in the same sandbox, and a denial carries its reason', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue);
      await waitingFor(h);
      await h.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'deny', reason: 'open a pull request instead' }] });
      await h.result();
      assert.equal(fake.inputs('createSandbox').length, 1);
      assert.equal(fake.inputs('restoreSession').length, 0);
      const resumed = fake.inputs<RunClaudeInput>('runClaude')[1];
      assert.equal(resumed?.sandboxId, 'sbx-1');
      assert.deepEqual(resumed?.approval?.decision, {
        toolUseId: 'toolu_1',
        decision: 'deny',
        reason: 'open a pull request instead',
        inputSha256: 'sha-toolu_1',
        by: 'human',
      });
    });
  });

  test('the validator refuses unknown, answered and malformed answers, and nothing is recorded for them', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue }) => {
      const h = await start(taskQueue, { keepAliveSeconds: 600 });
      await waitingFor(h);
      const refused = async (input: unknown, why: RegExp) => {
        const err: unknown = await h.executeUpdate(approveUpdate, { args: [input as never] }).then(
          () => assert.fail('accepted'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof Error);
        assert.match(err.cause instanceof Error ? err.cause.message : err.message, why);
      };
      await refused({ requestId: 'req-9', decision: 'allow' }, /has no request req-9; the one waiting is req-1 \(Bash\)/);
      await refused({ requestId: 'req-1', decision: 'maybe' }, /decision: must be "allow" or "deny"/);
      await refused({ requestId: 'req-1', decision: 'allow', extra: 1 }, /extra: unknown field/);
      await refused({ requestId: 'req-1', decision: 'deny', remember: 'session' }, /applies to allow only/);
      await h.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow' }] });
      await refused({ requestId: 'req-1', decision: 'deny' }, /request req-1 of task .* was already answered/);
      assert.equal(await countEvents(h, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), 1, 'refused answers leave no trace in history');
      await eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));
      await refused({ requestId: 'req-2', decision: 'allow' }, /has no request req-2; nothing waits for approval now/);
      await h.terminate();
    });
  });

  test('remember: "session" allows the rule in every later run of the task', async () => {
    const script: FakeScript = { run: (_input, n) => (n === 0 ? { deferred: held() } : {}) };
    await withWorker(env, script, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { resultRetries: 1 });
      await waitingFor(h);
      const answer = await h.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow', remember: 'session' }] });
      assert.deepEqual(answer.rememberedRules, [RULE]);
      await h.result();
      assert.deepEqual(fake.inputs<RunClaudeInput>('runClaude')[1]?.approval?.allowRules, [RULE]);
      assert.deepEqual((await h.query(statusQuery)).approval?.allowRules, [RULE]);
    });
  });

  test('a task with no rules refuses answers, and its runs carry no approval settings', async () => {
    await withWorker(env, {}, async ({ taskQueue, fake }) => {
      const h = await env.client.workflow.start<AgentTaskWorkflow>('agentTask', {
        taskQueue,
        workflowId: `plain-${++seq}`,
        args: [{ prompt: 'no rules', keepAliveSeconds: 600 }],
      });
      await eventually('the task to open', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined));
      const err: unknown = await h
        .executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow' }] })
        .catch((e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.match(err.cause instanceof Error ? err.cause.message : err.message, /has no approval rules/);
      assert.equal(fake.inputs<RunClaudeInput>('runClaude')[0]?.approval, undefined);
      await h.terminate();
    });
  });
});

describe('timeouts of hours', () => {
  test('onTimeout "deny": after 4 hours the agent is told nobody answered, and the task completes', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { approval: { tools: [RULE], timeoutSeconds: 4 * 3600, onTimeout: 'deny' } });
      const result = await h.result();
      assert.deepEqual(result.result, { summary: 'result 1' });
      const resumed = fake.inputs<RunClaudeInput>('runClaude')[1];
      assert.deepEqual(resumed?.approval?.decision, {
        toolUseId: 'toolu_1',
        decision: 'deny',
        reason: 'No answer came within 4 h.',
        inputSha256: 'sha-toolu_1',
        by: 'timeout',
      });
      // The sandbox went after 5 minutes; the resume came 4 hours after the call was held.
      assert.equal(fake.inputs('restoreSession').length, 1);
      // Workflow time: the held run ended, then the resume was scheduled 4 hours later.
      const runs = await activityTimes(h, 'runClaude');
      const waited = (runs.scheduled[1] ?? 0) - (runs.completed[0] ?? 0);
      assert.ok(Math.abs(waited - 4 * HOUR) < 60_000, `resumed ${waited} ms after the call was held`);
      const answered = (await h.query(statusQuery)).approval?.answered;
      assert.deepEqual(
        answered?.map((a) => [a.decision, a.by]),
        [['deny', 'timeout']],
      );
    });
  });

  test('onTimeout "fail": the task fails with ApprovalTimedOut, naming the request, and tears its sandbox down', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { approval: { tools: [RULE], timeoutSeconds: 2 * 3600, onTimeout: 'fail', keepSandboxSeconds: 0 } });
      const failure = await failureOf(h.result());
      assert.equal(failure.type, 'ApprovalTimedOut');
      assert.match(failure.message, /request req-1 \(Bash: \{"command":"git push origin main"\}\) got no answer within 2 h/);
      assert.equal(fake.inputs('runClaude').length, 1, 'the held call never ran');
      assert.deepEqual(
        fake.inputs<DestroySandboxInput>('destroySandbox').map((d) => d.sandboxId),
        ['sbx-1'],
        'released at once (keepSandboxSeconds 0), not destroyed twice',
      );
    });
  });

  test('time spent waiting does not count against the task deadline', async () => {
    await withWorker(env, holdsOnce, async ({ taskQueue }) => {
      const h = await start(taskQueue, {
        timeouts: { taskSeconds: 3600 },
        approval: { tools: [RULE], timeoutSeconds: 10 * 3600, onTimeout: 'deny' },
      });
      const result = await h.result();
      assert.deepEqual(result.result, { summary: 'result 1' }, 'it finished after a 10-hour wait under a 1-hour limit');
      const waitedMs = (await h.query(statusQuery)).approval?.waitedMs ?? 0;
      assert.ok(Math.abs(waitedMs - 10 * HOUR) < 60_000, `waited ${waitedMs} ms`);
    });
  });
});

describe('pipelines', () => {
  test('a step whose call waits shows as waiting, and the pipeline goes on once it is answered', async () => {
    const script: FakeScript = { run: (input, n) => (input.prompt.startsWith('Push') && n <= 1 ? { deferred: held() } : {}) };
    await withWorker(env, script, async ({ taskQueue }) => {
      const h = await env.client.workflow.start<PipelineWorkflow>('pipeline', {
        taskQueue,
        workflowId: `pl-approval-${++seq}`,
        args: [
          {
            defaults: { approval: { tools: [RULE] } },
            steps: [
              { name: 'build', prompt: 'Build it.' },
              { name: 'push', prompt: 'Push it.', dependsOn: 'build' },
            ],
          },
        ],
      });
      const step = await eventually('the step to wait', async () => {
        const s = await h.query(pipelineStatusQuery);
        const push = s.steps.find((x) => x.name === 'push');
        return push?.state === 'waiting' ? push : undefined;
      });
      assert.deepEqual(step.approval, { requestId: 'req-1', toolName: 'Bash' });
      const child = env.client.workflow.getHandle(`${h.workflowId}.push`);
      await child.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow' }] });
      const result = await h.result();
      assert.equal(result.ok, true);
      assert.equal(result.steps.push?.state, 'done');
      assert.equal(result.steps.push?.approval, undefined);
    });
  });
});
