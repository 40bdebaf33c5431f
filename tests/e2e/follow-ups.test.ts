/**
 * Follow-ups end to end: a real dev server, worker, `claude` CLI in bubblewrap and the scripted
 * model. The model picks its step by the number of assistant messages in the request, so a
 * resumed session continues the same script conversation (selected by a tag in the first prompt).
 */
import { recordHistory } from '../helpers/histories.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ApplicationFailure, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { PACKAGE_ROOT } from '../../src/home.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { statusQuery, type TaskStatus } from '../../src/workflows/messages.js';
import { closeSignal, followUpUpdate } from '../../src/workflows/messages.js';
import { sendFollowUp } from '../../src/client/follow-up.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);
const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string, text?: string) => ({ ...(text ? { text } : {}), toolUse: [{ name: 'Bash', input: { command } }] });

const script = {
  conversations: [
    {
      match: '\\[fu-same\\]',
      steps: [
        bash('echo "first turn" > notes.txt', 'Writing notes.'),
        submit({ summary: 'wrote notes.txt' }),
        { text: 'Done with the first turn.' },
        // follow-up 1 (the model sees everything above)
        bash('cat notes.txt && echo "second turn" >> notes.txt'),
        submit({ summary: 'appended a line', lines: 2 }),
        { text: 'Done with the follow-up.' },
        // follow-up 2, through the Temporal CLI
        submit({ summary: 'third turn' }),
        { text: 'Done with the third turn.' },
      ],
    },
    {
      match: '\\[fu-restore\\]',
      steps: [
        bash('echo "remember me: 4f2a" > memory.txt'),
        submit({ summary: 'stored a note' }),
        { text: 'First turn over.' },
        // after the sandbox was destroyed: a new sandbox with the session and files restored
        bash('cat memory.txt'),
        submit({ summary: 'read the note back' }),
        { text: 'Second turn over.' },
      ],
    },
    {
      match: '\\[fu-failed\\]',
      steps: [
        submit({ summary: 42 }),
        { text: 'Submitted a number.' },
        // continued after the task failed
        submit({ summary: 'a string this time' }),
        { text: 'Fixed.' },
      ],
    },
    {
      match: '\\[fu-closed\\]',
      steps: [
        bash('mkdir -p src && echo "export const kept = 1;" > src/kept.ts'),
        submit({ summary: 'wrote src/kept.ts' }),
        { text: 'Closed turn done.' },
        // continued later in a new workflow
        bash('cat src/kept.ts'),
        submit({ summary: 'continued the closed task' }),
        { text: 'Continuation done.' },
      ],
    },
  ],
};

/** The model's main requests whose conversation carries `tag`, as JSON text. */
function requestsFor(h: Harness, tag: string): string[] {
  return h.model.requests.filter((r) => !r.side && JSON.stringify(r.body ?? '').includes(tag)).map((r) => JSON.stringify(r.body));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const ccflowCli = (h: Harness, args: string[]) =>
  execFileAsync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), ...args], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address },
  });

describe('follow-ups', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ script });
    await h.startWorker();
  });
  after(async () => {
    await h?.close();
  });

  test('resume the same session in the same sandbox; queue; costs and turns add up; close ends the task', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-same',
      args: [{ prompt: '[fu-same] Keep notes.', keepAliveSeconds: 600 }],
    });
    // Sent while the first turn may still run: accepted, queued, run after it.
    const first = await handle.executeUpdate(followUpUpdate, {
      args: [
        {
          prompt: 'Add a second line and count the lines.',
          resultSchema: {
            type: 'object',
            properties: { summary: { type: 'string' }, lines: { type: 'number' } },
            required: ['summary', 'lines'],
          },
        },
      ],
    });
    assert.deepEqual(first.result, { summary: 'appended a line', lines: 2 });
    assert.equal(first.turn, 2);
    assert.equal(first.restored, false);
    assert.ok(first.numTurns >= 2 && first.costUsd > 0);

    // The follow-up's request carried the first turn's conversation, and the follow-up prompt.
    const followUpRequests = requestsFor(h, '[fu-same]').filter((b) => b.includes('Add a second line'));
    assert.ok(followUpRequests.length >= 1, 'the model saw the follow-up');
    assert.match(followUpRequests[0] ?? '', /Done with the first turn\./);
    assert.match(followUpRequests[0] ?? '', /wrote notes\.txt/);

    // An invalid follow-up is refused by the validator and leaves the task as it was.
    const refused = await handle.executeUpdate(followUpUpdate, { args: [{ prompt: '  ' }] }).then(
      () => assert.fail('an empty prompt must be refused'),
      (e: unknown) => e,
    );
    assert.ok(refused instanceof WorkflowUpdateFailedError, String(refused));
    assert.match(String(refused.cause?.message), /prompt: must be a non-empty string/);

    // The Temporal CLI drives the same Update.
    const { stdout } = await ccflowCli(h, [
      'temporal',
      'workflow',
      'update',
      'execute',
      '--address',
      h.server.address,
      '--workflow-id',
      'fu-same',
      '--name',
      'followUp',
      '--input',
      JSON.stringify({ prompt: 'One more thing.' }),
      '--output',
      'json',
    ]);
    assert.match(stdout, /third turn/);

    const status = await handle.query(statusQuery);
    assert.equal(status.phase, 'open');
    assert.equal(status.turns.length, 3);
    assert.deepEqual(
      status.turns.map((t) => t.turn),
      [1, 2, 3],
    );
    assert.deepEqual(
      status.turns.map((t) => t.prompt.slice(0, 10)),
      ['[fu-same] ', 'Add a seco', 'One more t'],
    );
    assert.equal(new Set(status.turns.map((t) => t.sandboxId)).size, 1, 'every turn ran in the same sandbox');
    assert.equal(new Set(status.turns.map((t) => t.sessionId)).size, 1, 'one Claude session');
    assert.ok(status.openUntil && status.openUntil > Date.now());

    await handle.signal(closeSignal);
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'third turn' }, "the task ends with its last turn's result");
    await recordHistory(h.server.address, handle.workflowId);
    assert.equal(result.turns?.length, 3);
    const turnSum = (result.turns ?? []).reduce((s, t) => s + t.numTurns, 0);
    const costSum = (result.turns ?? []).reduce((s, t) => s + t.costUsd, 0);
    assert.equal(result.numTurns, turnSum);
    assert.ok(Math.abs(result.totalCostUsd - costSum) < 1e-9, `${result.totalCostUsd} vs ${costSum}`);
    assert.ok(result.totalCostUsd > first.costUsd);
    assert.equal(
      result.durationMs,
      (result.turns ?? []).reduce((s, t) => s + t.durationMs, 0),
    );
    assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'fu-same' } }), [], 'the sandbox was torn down');

    // A closed task refuses Updates; `ccflow followup` would continue it instead.
    await assert.rejects(handle.executeUpdate(followUpUpdate, { args: [{ prompt: 'too late' }] }));
  });

  test('a follow-up whose sandbox is gone restores transcript and workspace into a new sandbox', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-restore',
      args: [{ prompt: '[fu-restore] Store a note.', keepAliveSeconds: 600 }],
    });
    const opened = await waitFor('the first result', async () => {
      const s: TaskStatus = await handle.query(statusQuery);
      return s.phase === 'open' ? s : undefined;
    });
    const oldSandbox = opened.sandboxId;
    assert.ok(oldSandbox);
    // Saved after the first turn: transcript, workspace and manifest.
    const saved = await h.artifacts.list({ namespace: 'default', workflowId: 'fu-restore' });
    assert.ok(saved.includes('session/workspace.tar.gz') && saved.includes('session/session.json'), saved.join(', '));
    assert.ok(saved.includes(`session/${opened.sessionId}.jsonl`), saved.join(', '));

    await h.provider.destroy(oldSandbox); // expired, crashed, or cleaned up by someone else

    const r = await handle.executeUpdate(followUpUpdate, { args: [{ prompt: 'What did you note?' }] });
    assert.equal(r.restored, true);
    assert.notEqual(r.sandboxId, oldSandbox);
    assert.deepEqual(r.result, { summary: 'read the note back' });
    const bodies = requestsFor(h, '[fu-restore]').filter((b) => b.includes('What did you note?'));
    // The model saw the earlier conversation, and the agent read the file it wrote before.
    assert.ok(
      bodies.some((b) => b.includes('First turn over.')),
      'the resumed session remembers the first turn',
    );
    assert.ok(
      bodies.some((b) => b.includes('remember me: 4f2a')),
      'cat memory.txt found the restored file',
    );

    await handle.signal(closeSignal);
    const result = (await handle.result()) as TaskResult;
    assert.equal(result.turns?.[1]?.restored, true);
    await recordHistory(h.server.address, handle.workflowId);
    assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'fu-restore' } }), []);
  });

  test('ccflow followup on a closed task continues it in a new, linked workflow', async () => {
    const first = (await h.client.workflow.execute('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-closed',
      args: [{ prompt: '[fu-closed] Write src/kept.ts.' }],
    })) as TaskResult;
    assert.deepEqual(first.result, { summary: 'wrote src/kept.ts' });

    const { stdout, stderr } = await ccflowCli(h, ['followup', 'fu-closed', 'Show', 'me', 'src/kept.ts', '--id', 'fu-closed-2']);
    assert.match(stderr, /fu-closed is closed; continuing its session in a new task: fu-closed-2/);
    assert.match(stdout, /continued the closed task/);
    assert.match(stdout, /continued from fu-closed/);

    const desc = await h.client.workflow.getHandle('fu-closed-2').describe();
    assert.equal(desc.memo?.continuedFrom, 'fu-closed');
    const result = (await h.client.workflow.getHandle('fu-closed-2').result()) as TaskResult;
    assert.equal(result.continuedFrom, 'fu-closed');
    assert.equal(result.sessionId, first.sessionId, 'the same Claude session goes on');
    // claude reports the resumed session's whole cost; the new task counts only what it added.
    const raw =
      (await h.artifacts.get({ namespace: 'default', workflowId: 'fu-closed-2' }, 'runs/run-1/a1/transcript.jsonl'))?.toString('utf8') ??
      '';
    const reported = raw
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; total_cost_usd?: number })
      .find((l) => l.type === 'result')?.total_cost_usd;
    assert.ok(reported !== undefined && reported > first.totalCostUsd, `claude reported ${reported} for the resumed session`);
    assert.ok(
      Math.abs(result.totalCostUsd - (reported - first.totalCostUsd)) < 1e-9,
      `${result.totalCostUsd} is this task's share of ${reported}`,
    );
    const bodies = requestsFor(h, '[fu-closed]').filter((b) => b.includes('Show me src/kept.ts'));
    assert.ok(
      bodies.some((b) => b.includes('Closed turn done.')),
      'the model saw the earlier conversation',
    );
    assert.ok(
      bodies.some((b) => b.includes('export const kept = 1;')),
      'the agent read the restored file',
    );
  });

  test('a failed task saved its session too: a follow-up continues it', async () => {
    const failed = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-failed',
      args: [{ prompt: '[fu-failed] Summarize.', resultRetries: 0 }],
    });
    await assert.rejects(failed.result(), WorkflowFailedError);
    const outcome = await sendFollowUp(
      h.client,
      'fu-failed',
      { prompt: 'The summary must be a string. Submit again.' },
      { newWorkflowId: 'fu-failed-2' },
    );
    assert.equal(outcome.kind, 'continued');
    assert.deepEqual(outcome.result.result, { summary: 'a string this time' });
    assert.ok(requestsFor(h, '[fu-failed]').some((b) => b.includes('Submit again.') && b.includes('Submitted a number.')));
  });

  test('continuing a task that saved nothing fails clearly, never as a fresh start', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-missing',
      args: [{ prompt: 'Go on.', continueFrom: { workflowId: 'no-such-task' } }],
    });
    const err = await handle.result().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'SessionNotFound');
    assert.match(err.cause.message, /task no-such-task has no saved session/);

    // A known task but an unknown session id: the message lists the sessions that exist.
    const wrong = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'fu-missing-2',
      args: [{ prompt: 'Go on.', continueFrom: { workflowId: 'fu-closed', sessionId: '00000000-0000-0000-0000-000000000000' } }],
    });
    const err2 = await wrong.result().then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err2 instanceof WorkflowFailedError && err2.cause instanceof ApplicationFailure);
    assert.equal(err2.cause.type, 'SessionNotFound');
    assert.match(err2.cause.message, /no saved transcript for session 00000000-0000-0000-0000-000000000000 of task fu-closed/);
    assert.equal(h.model.requests.filter((r) => JSON.stringify(r.body ?? '').includes('Go on.')).length, 0, 'no agent ran');
  });
});
