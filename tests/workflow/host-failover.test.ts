/**
 * Host failover, fast: a task whose bubblewrap sandbox lives on a host that stops taking its
 * activities (nobody polls the host's queue) classifies it HostLost and continues on another
 * host, from the last saved session or from scratch, a bounded number of times. Activities are
 * faked; a "dead host" is a queue nobody polls, which is what Temporal sees when a host dies
 * (a retry after a lost heartbeat waits on that queue too).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';
import type { DestroySandboxInput, RunClaudeInput } from '../../src/schemas/activities.js';
import type { RestoreSessionInput } from '../../src/schemas/sessions.js';
import type { TaskSpecInput } from '../../src/schemas/task-spec.js';
import { closeSignal, followUpUpdate, statusQuery, type AgentTaskWorkflow } from '../../src/workflows/messages.js';
import { eventually, fakeActivities, startTimeSkipping, withWorker } from '../helpers/workflow-env.js';

const EventType = proto.temporal.api.enums.v1.EventType;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await startTimeSkipping();
});
after(async () => {
  await env?.teardown();
});

/** The bound a host advertises; short, since the test server does not skip time while an activity waits. */
const BOUND = 2;

let seq = 0;
function start(taskQueue: string, spec: TaskSpecInput): Promise<WorkflowHandle<AgentTaskWorkflow>> {
  return env.client.workflow.start<AgentTaskWorkflow>('agentTask', { taskQueue, workflowId: `failover-${++seq}`, args: [spec] });
}

/** A queue no worker polls: a host that died with its worker. */
const deadHost = () => ({ taskQueue: `dead-host-${randomUUID()}`, hostStartSeconds: BOUND });

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err: unknown = await p.then(
    () => assert.fail('expected the task to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  return err.cause;
}

describe('host failover', () => {
  test('a host lost during the first turn: the task starts over on another host, and its sandbox is left to that host', async () => {
    const create = (_: unknown, n: number) => (n === 0 ? deadHost() : { hostStartSeconds: BOUND });
    await withWorker(env, { create }, async ({ taskQueue, fake }) => {
      const h = await start(taskQueue, { prompt: 'first', files: { 'a.txt': 'a' } });
      const result = await h.result();
      assert.equal(result.hostRestarts, 1);
      assert.equal(result.sandboxId, 'sbx-2');
      // Nothing was saved yet: a fresh sandbox with the task's files and a fresh session, no restore.
      assert.deepEqual(
        fake.inputs<{ files?: unknown }>('createSandbox').map((c) => c.files),
        [{ 'a.txt': 'a' }, { 'a.txt': 'a' }],
      );
      const runs = fake.inputs<RunClaudeInput>('runClaude');
      assert.equal(runs.length, 1, 'the dead host never ran anything');
      assert.ok(runs[0]?.newSessionId && !runs[0].resumeSessionId);
      assert.equal(fake.inputs('restoreSession').length, 0);
      // Teardown does not wait on the dead host: its sweeper destroys sbx-1 when it returns.
      assert.deepEqual(
        fake.inputs<DestroySandboxInput>('destroySandbox').map((d) => d.sandboxId),
        ['sbx-2'],
      );
    });
  });

  test('a follow-up whose host is gone resumes the saved session on another host', async () => {
    const hostA = `host-a-${randomUUID()}`;
    const create = (_: unknown, n: number) => (n === 0 ? { taskQueue: hostA, hostStartSeconds: BOUND } : { hostStartSeconds: BOUND });
    await withWorker(env, { create }, async ({ taskQueue, fake }) => {
      // Host A's worker: the same activities, on its own queue, until the host dies.
      const hostWorker = await Worker.create({ connection: env.nativeConnection, taskQueue: hostA, activities: fake.activities });
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 3600 });
      await hostWorker.runUntil(
        eventually('the first turn to be saved', async () => ((await h.query(statusQuery)).savedSession ? true : undefined)),
      );
      const saved = (await h.query(statusQuery)).savedSession;
      assert.deepEqual(saved, { sessionId: fake.inputs<RunClaudeInput>('runClaude')[0]?.newSessionId, turn: 1 });

      const followUp = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'second' }] });
      assert.equal(followUp.restored, true);
      assert.equal(followUp.sandboxId, 'sbx-2');
      assert.equal((await h.query(statusQuery)).hostRestarts, 1);
      // The saved session of this very task, resumed under the same session id.
      assert.deepEqual(
        fake.inputs<RestoreSessionInput>('restoreSession').map((r) => [r.fromWorkflowId, r.sessionId, r.sandboxId]),
        [[h.workflowId, saved?.sessionId, 'sbx-2']],
      );
      assert.equal(fake.inputs<RunClaudeInput>('runClaude').at(-1)?.resumeSessionId, saved?.sessionId);

      await h.signal(closeSignal);
      const result = await h.result();
      assert.equal(result.hostRestarts, 1);
      assert.deepEqual(
        fake.inputs<DestroySandboxInput>('destroySandbox').map((d) => d.sandboxId),
        ['sbx-2'],
      );
    });
  });

  test('a follow-up whose host is gone, with no whole save to resume, fails with HostLost and says why', async () => {
    const hostA = `host-a-${randomUUID()}`;
    const create = (_: unknown, n: number) => (n === 0 ? { taskQueue: hostA, hostStartSeconds: BOUND } : { hostStartSeconds: BOUND });
    // The workspace was too large to save: no whole save to resume from.
    const save = () => ({ workspaceBytes: null, workspaceError: 'the workspace tarball is over the limit' });
    await withWorker(env, { create, save }, async ({ taskQueue, fake }) => {
      const hostWorker = await Worker.create({ connection: env.nativeConnection, taskQueue: hostA, activities: fake.activities });
      const h = await start(taskQueue, { prompt: 'first', keepAliveSeconds: 3600 });
      await hostWorker.runUntil(
        eventually('the first turn to end', async () => ((await h.query(statusQuery)).phase === 'open' ? true : undefined)),
      );
      const err: unknown = await h.executeUpdate(followUpUpdate, { args: [{ prompt: 'second' }] }).catch((e: unknown) => e);
      assert.ok(err instanceof Error, String(err));
      const cause = (err as { cause?: unknown }).cause;
      assert.ok(cause instanceof ApplicationFailure, String(cause));
      assert.equal(cause.type, 'HostLost');
      assert.match(
        cause.message,
        /no session was saved to continue from \(the last save failed: the workspace tarball is over the limit\)/,
      );
      assert.equal(fake.inputs('restoreSession').length, 0, 'never a silent fresh session');
      await h.signal(closeSignal);
      await h.result();
    });
  });

  test('after maxHostRestarts moves, losing one more host fails the task with HostLost', async () => {
    await withWorker(env, { create: () => deadHost() }, async ({ taskQueue, fake }) => {
      const f = await failureOf((await start(taskQueue, { prompt: 'doomed', maxHostRestarts: 1 })).result());
      assert.equal(f.type, 'HostLost');
      assert.match(f.message, /after 1 host restart\(s\) already: giving up/);
      assert.equal(fake.inputs('createSandbox').length, 2);
      assert.equal(fake.inputs('runClaude').length, 0);
    });
  });

  test('every activity routed to a host queue carries the host start bound; others do not', async () => {
    const hostQueue = `host-b-${randomUUID()}`;
    const fake = fakeActivities(hostQueue);
    await withWorker(env, { create: () => ({ taskQueue: hostQueue, hostStartSeconds: 45 }) }, async ({ taskQueue }) => {
      const hostWorker = await Worker.create({ connection: env.nativeConnection, taskQueue: hostQueue, activities: fake.activities });
      const h = await start(taskQueue, { prompt: 'bounded' });
      await hostWorker.runUntil(h.result());
      const scheduled = ((await h.fetchHistory()).events ?? [])
        .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        .map((e) => e.activityTaskScheduledEventAttributes);
      const onHost = scheduled.filter((a) => a?.taskQueue?.name === hostQueue);
      assert.deepEqual(
        onHost.map((a) => a?.activityType?.name).sort(),
        ['destroySandbox', 'fetchResult', 'runClaude', 'saveSession'].sort(),
      );
      for (const a of onHost) assert.equal(Number(a?.scheduleToStartTimeout?.seconds), 45, `${a?.activityType?.name} is bounded`);
      const create = scheduled.find((a) => a?.activityType?.name === 'createSandbox');
      assert.equal(create?.taskQueue?.name, taskQueue);
      assert.ok(!create?.scheduleToStartTimeout?.seconds || Number(create.scheduleToStartTimeout.seconds) !== 45);
    });
  });
});
