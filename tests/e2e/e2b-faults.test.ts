/**
 * E2B faults end to end: real Temporal, the real claude CLI, the E2B provider and the local
 * E2B-compatible server with short deadlines (2 s command deadline for requests that carry one).
 *
 * The pitfall variants run one `runClaude` attempt each (MockActivityEnvironment): a workflow
 * would retry them, and a retry can pick up a run that went on without its wrapper, which
 * hides what the test is about.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';

import { createActivities } from '../../src/activities/index.js';
import type { E2BProviderOpts } from '../../src/sandbox/e2b/index.js';
import type { SandboxProvider } from '../../src/sandbox/types.js';
import type {
  CreateSandboxInput,
  CreatedSandbox,
  DestroySandboxInput,
  RunClaudeInput,
  RunClaudeOutput,
} from '../../src/schemas/activities.js';
import { FAILURE_TYPES } from '../../src/domain/failures.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { DEFAULT_RESULT_SCHEMA, type TaskResult } from '../../src/schemas/task-spec.js';
import { startDouble, type DoubleFixture } from '../e2b-server/fixtures.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string) => ({ text: 'Running it.', toolUse: [{ name: 'Bash', input: { command } }] });
const script = {
  conversations: [
    { match: '\\[long\\]', steps: [bash('sleep 5 && echo slept > slept.txt'), submit({ summary: 'waited' }), { text: 'Done.' }] },
    { match: '\\[lost\\]', steps: [bash('until [ -e stop.txt ]; do sleep 1; done'), submit({ summary: 'never' }), { text: 'Done.' }] },
    { match: '\\[quick\\]', steps: [submit({ summary: 'quick' }), { text: 'Done.' }] },
  ],
};

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${String(err)}`);
  assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(err.cause)}`);
  return err.cause;
}

describe('E2B faults end to end', () => {
  let h: Harness;
  let d: DoubleFixture;
  /** The provider the worker uses; tests swap what it delegates to. */
  let current: SandboxProvider;
  let modelEndpoints: E2BProviderOpts['modelEndpoints'];
  const destroyed: string[] = [];
  const switchable: SandboxProvider = {
    name: 'e2b',
    create: (o) => current.create(o),
    connect: (id) => current.connect(id),
    list: (f) => current.list(f),
    async destroy(id) {
      destroyed.push(id);
      await current.destroy(id);
    },
  };

  before(async () => {
    h = await startHarness({
      script,
      providerFactory: async (tmp, security) => {
        // As e2bProviderFactory wires it: the model proxy is the one host its sandboxes reach.
        const proxyPort = Number(new URL(security.modelProxyTcpUrl).port);
        d = await startDouble({ rootDir: `${tmp}/e2b`, commandDeadlineMs: 2_000, publicPorts: [proxyPort] });
        modelEndpoints = await security.e2bModelEndpoints();
        current = d.provider({ modelEndpoints });
        return { provider: switchable, close: () => d.close() };
      },
    });
    await h.startWorker();
  });
  after(async () => {
    await h?.close();
  });

  test('a run longer than the command deadline and the sandbox lifetime completes', async () => {
    const before = d.server.stats();
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'e2b-long',
      args: [{ prompt: '[long] Wait, then report.', sandbox: { timeoutSeconds: 3 } }],
    });
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'waited' });
    assert.ok(result.durationMs > 5_000, `took ${result.durationMs} ms`);
    const stats = d.server.stats();
    assert.equal(stats.deadlineKills, before.deadlineKills, 'no process hit a deadline');
    assert.ok(stats.timeoutUpdates > before.timeoutUpdates, 'the sandbox lifetime was renewed');
    assert.equal(stats.expired, before.expired, 'no sandbox expired');
  });

  describe('the same run, one attempt, with a provider that gets E2B wrong', () => {
    async function runOnce(providerOpts: Partial<E2BProviderOpts>): Promise<RunClaudeOutput> {
      const provider = d.provider({ modelEndpoints, ...providerOpts });
      const acts = createActivities({ ...h.deps, providers: { e2b: provider }, defaultProvider: 'e2b' });
      const env = new MockActivityEnvironment({ attempt: 1 });
      const created = (await env.run(acts.createSandbox, {
        provider: 'e2b',
        timeoutSeconds: 3,
      } satisfies CreateSandboxInput)) as CreatedSandbox;
      const sandbox = { sandboxId: created.sandboxId, provider: 'e2b' } as const;
      try {
        const input: RunClaudeInput = {
          ...sandbox,
          runName: 'run-1',
          prompt: '[long] Wait, then report.',
          resultSchema: DEFAULT_RESULT_SCHEMA,
          permissionMode: 'dontAsk',
          newSessionId: randomUUID(),
        };
        return (await env.run(acts.runClaude, input)) as RunClaudeOutput;
      } finally {
        await env.run(acts.destroySandbox, { ...sandbox, runNames: ['run-1'] } satisfies DestroySandboxInput);
      }
    }

    test('the correct provider completes it', async () => {
      const out = await runOnce({});
      assert.equal(out.subtype, 'success');
    });

    test('without timeoutMs: 0 the agent is killed at the deadline and the attempt fails', async () => {
      const before = d.server.stats().deadlineKills;
      const err = await runOnce({ unsafeTesting: { omitZeroCommandTimeout: true } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'AgentFailed');
      assert.match(err.message, /without a result line/);
      assert.equal(d.server.stats().deadlineKills, before + 1);
    });

    test('without renewals the sandbox expires under the agent: SandboxLost', async () => {
      const before = d.server.stats().expired;
      const err = await runOnce({ unsafeTesting: { disableRenewal: true } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'SandboxLost');
      assert.equal(err.nonRetryable, !FAILURE_TYPES.SandboxLost.retryable);
      assert.equal(d.server.stats().expired, before + 1);
    });
  });

  test('a sandbox lost mid-run fails the run as SandboxLost; the workflow cleans up and starts over, then gives up', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'e2b-lost',
      args: [{ prompt: '[lost] Take your time.' }],
    });
    const lost: string[] = [];
    /** The task's live sandbox whose agent is in its Bash call, once there is one. */
    const busySandbox = async (): Promise<string | undefined> => {
      for (const s of await h.provider.list({ metadata: { workflowId: 'e2b-lost' } })) {
        if (lost.includes(s.sandboxId)) continue;
        const sbx = await h.provider.connect(s.sandboxId).catch(() => undefined);
        // Run names count on across fresh starts (run-1, run-2, ...).
        for (let n = 1; sbx && n <= 5; n++) {
          const out = await sbx.readFile(`/home/user/.ccflow/runs/run-${n}/a1/stdout.jsonl`).catch(() => undefined);
          if (out?.toString('utf8').includes('stop.txt')) return s.sandboxId;
        }
      }
      return undefined;
    };
    // Every sandbox the task gets is killed while its agent runs (the first and each fresh start).
    for (let k = 0; k < 3; k++) {
      let id: string | undefined;
      // Generous: on a loaded 2-core machine a fresh sandbox and claude can take a while.
      for (const deadline = Date.now() + 180_000; Date.now() < deadline && id === undefined;) {
        id = await busySandbox();
        if (id === undefined) await sleep(100);
      }
      assert.ok(id, `sandbox ${k + 1} came up and its agent started`);
      lost.push(id);
      d.server.expireSandbox(id);
    }

    const failure = await failureOf(handle.result());
    assert.equal(failure.type, 'SandboxLost');
    assert.match(failure.message, /disappeared|does not exist/);
    // Below the workflow's summary: the activity's own failure, with the same clear type.
    const activity = failure.cause;
    assert.ok(activity instanceof ActivityFailure, String(activity));
    assert.ok(activity.cause instanceof ApplicationFailure);
    assert.equal(activity.cause.type, 'SandboxLost');
    assert.equal(activity.cause.nonRetryable, !FAILURE_TYPES.SandboxLost.retryable);
    // Teardown ran for every lost sandbox.
    assert.equal(new Set(lost).size, 3);
    for (const id of lost) assert.ok(destroyed.includes(id), `sandbox ${id} was torn down`);
    assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'e2b-lost' } }), []);
  });

  test('a wrong E2B key fails the task at once, non-retryable, saying which key', async () => {
    current = d.provider({ modelEndpoints, apiKey: 'e2b_wrong_key' });
    try {
      const started = Date.now();
      const handle = await h.client.workflow.start('agentTask', {
        taskQueue: h.taskQueue,
        workflowId: 'e2b-wrong-key',
        args: [{ prompt: '[quick] Hi.' }],
      });
      const failure = await failureOf(handle.result());
      assert.equal(failure.type, 'SandboxUnavailable');
      assert.equal(failure.nonRetryable, true);
      assert.match(failure.message, /E2B rejected the API key.*E2B_API_KEY/);
      const activity = failure.cause;
      assert.ok(activity instanceof ActivityFailure && activity.cause instanceof ApplicationFailure);
      assert.equal(activity.cause.nonRetryable, true, 'not retried');
      assert.ok(Date.now() - started < 10_000);
    } finally {
      current = d.provider({ modelEndpoints });
    }
  });

  test('a task asking for e2b on a worker without E2B_API_KEY fails at once, saying so', async () => {
    const acts = createActivities({ ...h.deps, providers: {}, defaultProvider: 'local' });
    const env = new MockActivityEnvironment();
    const err = await env.run(acts.createSandbox, { provider: 'e2b' as const }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'ProviderUnavailable');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /"e2b" is not configured.*E2B_API_KEY/);
  });
});
