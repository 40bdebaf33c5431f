/**
 * End to end: a real Temporal dev server, a real worker, the real `claude` CLI in bubblewrap,
 * and the scripted model server. Each test's prompt carries a tag that selects its script.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import type { Sandbox, SandboxProvider } from '../../src/sandbox/types.js';
import { SANDBOX_WORKDIR } from '../../src/sandbox/layout.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveUpdate, statusQuery } from '../../src/workflows/messages.js';
import { recordHistory } from '../helpers/histories.js';
import { startHarness, TEST_API_KEY, type Harness, type ProviderFactory } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);

const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });

const script = {
  conversations: [
    {
      match: '\\[happy\\]',
      steps: [
        {
          text: 'Writing the report.',
          toolUse: [{ name: 'Bash', input: { command: 'echo "all good" > report.txt && cat seed.txt >> report.txt' } }],
        },
        submit({ summary: 'wrote report.txt', file: 'report.txt' }),
        { text: 'Done.' },
      ],
    },
    {
      match: '\\[fix-once\\]',
      steps: [
        submit({ summary: 42 }),
        { text: 'The tool refused my result; stopping here.' },
        submit({ summary: 'fixed after correction' }),
        { text: 'Submitted.' },
      ],
    },
    {
      match: '\\[never-valid\\]',
      steps: [submit({ summary: 1 }), { text: 'Stopping.' }, submit({ summary: 2 }), { text: 'Stopping again.' }],
    },
    {
      match: '\\[approve\\]',
      steps: [
        { toolUse: [{ name: 'Bash', input: { command: 'git push origin main 2>/dev/null; echo pushed > report.txt' } }] },
        submit({ summary: 'pushed' }),
        { text: 'Done.' },
      ],
    },
    {
      match: '\\[cli\\]',
      steps: [submit({ summary: 'from the temporal cli' }), { text: 'Done.' }],
    },
  ],
};

/** Wraps the real provider to look into the workspace just before it is destroyed. */
function recordingProvider(inner: SandboxProvider, seen: Map<string, string | undefined>, file: string): SandboxProvider {
  return {
    name: inner.name,
    create: (o) => inner.create(o),
    connect: (id): Promise<Sandbox> => inner.connect(id),
    list: (f) => inner.list(f),
    async destroy(id) {
      const sandbox = await inner.connect(id);
      const content = await sandbox.readFile(`${SANDBOX_WORKDIR}/${file}`);
      seen.set(id, content?.toString('utf8'));
      await inner.destroy(id);
    },
  };
}

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('expected the workflow to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure cause, got ${String(err.cause)}`);
  return err.cause;
}

/**
 * The end-to-end suite, for any sandbox provider: the local provider runs it here, and the
 * E2B provider runs it again against the E2B-compatible test server.
 */
export function agentTaskSuite(name: string, providerFactory?: ProviderFactory): void {
  describe(`agentTask end to end (${name})`, () => {
    let h: Harness;
    const seenBeforeDestroy = new Map<string, string | undefined>();

    before(async () => {
      h = await startHarness({ script, providerFactory });
      await h.startWorker({
        providers: { [h.provider.name]: recordingProvider(h.provider, seenBeforeDestroy, 'report.txt') },
      });
    });
    after(async () => {
      await h?.close();
    });

    test('returns the validated result; the agent wrote its file; the sandbox is gone afterwards', async () => {
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'e2e-happy',
        args: [
          {
            prompt: '[happy] Write report.txt.',
            resultSchema: {
              type: 'object',
              properties: { summary: { type: 'string' }, file: { type: 'string' } },
              required: ['summary', 'file'],
            },
            files: { 'seed.txt': 'seeded line' },
          },
        ],
      });
      const result = (await handle.result()) as TaskResult;
      if (h.provider.name === 'local') await recordHistory(h.server.address, handle.workflowId);

      assert.deepEqual(result.result, { summary: 'wrote report.txt', file: 'report.txt' });
      assert.match(result.sessionId, /^[0-9a-f-]{36}$/);
      assert.ok(result.numTurns >= 2, `numTurns ${result.numTurns}`);
      assert.ok(result.totalCostUsd > 0, `cost ${result.totalCostUsd}`);
      assert.equal(result.resultAttempts, 1);
      assert.match(result.sandboxId, /\S/);

      // The agent really ran Bash in the workspace (and saw the seeded file) before teardown.
      assert.equal(seenBeforeDestroy.get(result.sandboxId), 'all good\nseeded line');
      // Teardown removed the sandbox: not listed, and its directory is gone.
      assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'e2e-happy' } }), []);
      if (h.provider.name === 'local') assert.equal(existsSync(path.join(h.tmp, 'sandboxes', result.sandboxId)), false);

      // The transcript was saved before teardown and does not contain the API key.
      assert.ok(result.artifactsDir);
      const transcript = await readFile(path.join(result.artifactsDir, 'runs/run-1/a1/transcript.jsonl'), 'utf8');
      assert.match(transcript, /"type":"result"/);
      assert.ok(!transcript.includes(TEST_API_KEY));

      // The key reached claude (it authenticated) but appears nowhere durable: not in history,
      // not in any artifact.
      const history = JSON.stringify(await handle.fetchHistory());
      assert.ok(!history.includes(h.apiKey), 'no API key in workflow history');
      for (const name of await h.artifacts.list('e2e-happy')) {
        const content = await h.artifacts.get('e2e-happy', name);
        assert.ok(!content?.includes(h.apiKey), `no API key in artifact ${name}`);
      }

      // claude was started the way ccflow promises: the result server connected, key sent.
      const main = h.model.requests.filter((r) => !r.side && r.path.startsWith('/v1/messages'));
      assert.ok(main.length >= 3);
      assert.ok(main.every((r) => r.hasApiKey));
    });

    test('a call under an approval rule waits; its sandbox is released, and the answer restores it and runs the call', async () => {
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'e2e-approve',
        args: [{ prompt: '[approve] Push.', approval: { tools: ['Bash(git push:*)'], keepSandboxSeconds: 1 } }],
      });
      const deadline = Date.now() + 120_000;
      let status = await handle.query(statusQuery);
      while (!status.approval?.pending?.sandboxReleased) {
        assert.ok(Date.now() < deadline, `the call never waited with its sandbox released (phase ${status.phase})`);
        await sleep(200);
        status = await handle.query(statusQuery);
      }
      const first = status.sandboxId;
      assert.equal(seenBeforeDestroy.get(first ?? ''), undefined, 'the held command had not run when the sandbox went');
      await handle.executeUpdate(approveUpdate, { args: [{ requestId: 'req-1', decision: 'allow' }] });
      const result = (await handle.result()) as TaskResult;
      assert.deepEqual(result.result, { summary: 'pushed' });
      assert.notEqual(result.sandboxId, first);
      assert.equal(seenBeforeDestroy.get(result.sandboxId), 'pushed\n', 'the command ran in the restored sandbox');
      assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'e2e-approve' } }), []);
    });

    test('an invalid result gets one corrective resume that quotes the validation errors', async () => {
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'e2e-fix-once',
        args: [{ prompt: '[fix-once] Summarize.' }],
      });
      const result = (await handle.result()) as TaskResult;
      if (h.provider.name === 'local') await recordHistory(h.server.address, handle.workflowId);
      assert.deepEqual(result.result, { summary: 'fixed after correction' });
      assert.equal(result.resultAttempts, 2);

      const bodies = h.model.requests
        .filter((r) => !r.side && JSON.stringify(r.body ?? '').includes('[fix-once]'))
        .map((r) => JSON.stringify(r.body));
      const corrective = bodies.filter((b) => b.includes('does not match the required format'));
      assert.ok(corrective.length >= 1, 'the model saw a corrective prompt');
      assert.match(corrective[0] ?? '', /summary: Invalid input: expected string/);
      // The corrective run resumed the same session: its request carries the first run's turns.
      assert.match(corrective[0] ?? '', /The tool refused my result/);
    });

    test('a result that never validates fails after the configured retries, keeping the last attempt', async () => {
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'e2e-never-valid',
        args: [{ prompt: '[never-valid] Summarize.', resultRetries: 1 }],
      });
      const failure = await failureOf(handle.result());
      if (h.provider.name === 'local') await recordHistory(h.server.address, handle.workflowId);
      assert.equal(failure.type, 'InvalidResult');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /no valid result after 2 agent run\(s\)/);
      assert.match(failure.message, /summary/);
      const details = failure.details?.[0] as { lastAttempt?: { arguments?: unknown } };
      assert.deepEqual(details.lastAttempt?.arguments, { summary: 2 });
      assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'e2e-never-valid' } }), []);
    });

    test('an invalid TaskSpec fails at once, non-retryable, naming the field, before any sandbox', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ prompt: 'x', bogus: 1 }, /bogus: unknown field/],
        [{}, /prompt: /],
        [{ prompt: 'x', resultSchema: { type: 'string' } }, /resultSchema: must be a JSON Schema object/],
        [{ prompt: 'x', permissionMode: 'yolo' }, /permissionMode: /],
        [{ prompt: 'x', approval: { tools: ['Bash(git push:*)', 'Bahs'] } }, /approval\.tools\[1\]: rule "Bahs": unknown tool "Bahs"/],
        [{ prompt: 'x', files: { '../escape': 'x' } }, /files\["\.\.\/escape"\]: must be a relative path inside the workspace/],
      ];
      for (const [i, [input, pattern]] of cases.entries()) {
        const handle = await h.client.workflow.start('agentTask', {
          taskQueue: h.taskQueue,
          workflowId: `e2e-invalid-${i}`,
          args: [input],
        });
        const failure = await failureOf(handle.result());
        assert.equal(failure.type, 'InvalidTaskSpec');
        assert.equal(failure.nonRetryable, true);
        assert.match(failure.message, /^invalid task: /);
        assert.match(failure.message, pattern);
        assert.deepEqual(await h.provider.list({ metadata: { workflowId: `e2e-invalid-${i}` } }), []);
      }
    });

    test('runs from the Temporal CLI with plain JSON input (ccflow temporal workflow start/result)', async () => {
      const ccflow = (args: string[]) =>
        execFileAsync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'temporal', ...args], {
          cwd: PACKAGE_ROOT,
        });
      const address = ['--address', h.server.address];
      await ccflow([
        'workflow',
        'start',
        ...address,
        '--type',
        'agentTask',
        '--task-queue',
        'ccflow',
        '--workflow-id',
        'e2e-cli',
        '--input',
        JSON.stringify({ prompt: '[cli] Summarize.' }),
      ]);
      const { stdout } = await ccflow(['workflow', 'result', ...address, '--workflow-id', 'e2e-cli', '--output', 'json']);
      const parsed = JSON.parse(stdout) as { result?: TaskResult; status?: string };
      assert.equal(parsed.status, 'COMPLETED');
      assert.deepEqual(parsed.result?.result, { summary: 'from the temporal cli' });
    });
  });
}
