/**
 * Human approval end to end: a real dev server and worker, the real `claude` CLI in bubblewrap,
 * the scripted model. A scripted agent calls `Bash` with `git push ...` under the rule
 * `Bash(git push:*)`; the task waits holding no process (and, after the grace period, no
 * sandbox), and goes on with the answer given through ccflow's CLI or client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { CcflowClient } from '../../src/client/index.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { pipelineStatusQuery, statusQuery, type TaskStatus } from '../../src/workflows/messages.js';
import { CcflowWaiting } from '../../src/workflows/search-attributes.js';
import { processesWithKey, startHarness, type Harness } from '../helpers/harness.js';

const execFileAsync = promisify(execFile);
const RULE = 'Bash(git push:*)';
const submit = (summary: string) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary } }] });
const push = (branch: string, text?: string) => ({
  ...(text ? { text } : {}),
  toolUse: [
    { name: 'Bash', input: { command: `git push origin ${branch} 2>/dev/null; echo ${branch} >> pushed.txt`, description: 'push' } },
  ],
});

const script = {
  conversations: [
    { match: '\\[ap-allow\\]', steps: [push('main', 'Pushing the branch.'), submit('pushed main'), { text: 'Done.' }] },
    { match: '\\[ap-deny\\]', steps: [push('main', 'Pushing the branch.'), submit('could not push: denied'), { text: 'Done.' }] },
    { match: '\\[ap-remember\\]', steps: [push('a'), push('b'), submit('pushed a and b'), { text: 'Done.' }] },
    { match: '\\[ap-restart\\]', steps: [push('main'), submit('pushed after a worker restart'), { text: 'Done.' }] },
    { match: '\\[ap-pipeline\\]', steps: [push('release'), submit('released'), { text: 'Done.' }] },
  ],
};

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
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, CCFLOW_TASK_QUEUE: h.taskQueue },
  });

const waiting = (handle: WorkflowHandle, released = false) =>
  waitFor(`${handle.workflowId} to wait for approval${released ? ' with its sandbox released' : ''}`, async () => {
    const s = await handle.query(statusQuery);
    const p = s.approval?.pending;
    return s.phase === 'waiting-approval' && p && (!released || p.sandboxReleased) ? s : undefined;
  });

/** The tool_result the CLI sent the model for a call, from the recorded requests. */
function toolResultSent(h: Harness, toolUseId: string): { is_error?: boolean; content: string } | undefined {
  for (const r of h.model.requests) {
    for (const m of (r.body as { messages?: Array<{ content: unknown }> }).messages ?? []) {
      if (!Array.isArray(m.content)) continue;
      for (const b of m.content as Array<Record<string, unknown>>) {
        if (b.type === 'tool_result' && b.tool_use_id === toolUseId) {
          return {
            is_error: b.is_error as boolean | undefined,
            content: typeof b.content === 'string' ? b.content : JSON.stringify(b.content),
          };
        }
      }
    }
  }
  return undefined;
}

/** The files of a task's saved workspace tarball. */
async function savedWorkspace(h: Harness, workflowId: string, file: string): Promise<string | undefined> {
  const tarball = await h.artifacts.get(workflowId, 'session/workspace.tar.gz');
  assert.ok(tarball, `${workflowId} saved its workspace`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-ws-'));
  try {
    await writeFile(path.join(dir, 'ws.tar.gz'), tarball);
    const { stdout } = await execFileAsync('tar', ['-xzOf', path.join(dir, 'ws.tar.gz'), `./${file}`]).catch(() => ({ stdout: undefined }));
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A single-session task's cost is what claude reported for the session in all, not more. */
function assertCostOfOneSession(result: TaskResult, status: TaskStatus): void {
  const reported = status.sessionCosts?.[result.sessionId];
  assert.ok(reported !== undefined && reported > 0);
  assert.ok(Math.abs(result.totalCostUsd - reported) < 1e-9, `task cost ${result.totalCostUsd} vs the session's ${reported}`);
}

describe('approvals', () => {
  let h: Harness;
  let ccflow: CcflowClient;

  before(async () => {
    h = await startHarness({ script });
    await h.startWorker();
    ccflow = new CcflowClient(h.client, h.taskQueue);
  });
  after(async () => {
    await h?.close();
  });

  test('the task waits with no process and, after the grace period, no sandbox; approve restores it and the command really runs', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'ap-allow',
      args: [{ prompt: '[ap-allow] Push the branch.', approval: { tools: [RULE], keepSandboxSeconds: 2 } }],
    });
    const status = await waiting(handle);
    const request = status.approval?.pending;
    assert.ok(request);
    assert.equal(request.requestId, 'req-1');
    assert.equal(request.toolName, 'Bash');
    assert.deepEqual(JSON.parse(request.input), {
      command: 'git push origin main 2>/dev/null; echo main >> pushed.txt',
      description: 'push',
    });
    assert.deepEqual(request.rules, [RULE]);
    assert.equal(request.agentText, 'Pushing the branch.');
    assert.equal(request.turn, 1);
    const firstSandbox = status.sandboxId;
    assert.ok(firstSandbox);

    // No claude process while it waits: nothing in any sandbox holds the model key.
    assert.deepEqual(await processesWithKey(h.apiKey), []);
    // Visible where people look: the search attribute, ccflow approvals, ccflow status.
    assert.equal((await handle.describe()).typedSearchAttributes.get(CcflowWaiting), 'approval');
    const listed = await waitFor('ccflow approvals to list it', async () => {
      const { stdout } = await ccflowCli(h, ['approvals']);
      return stdout.includes('ap-allow/req-1') ? stdout : undefined;
    });
    assert.match(listed, /ap-allow\/req-1 {2}Bash: git push origin main/);
    assert.match(listed, /rule Bash\(git push:\*\)/);
    // Web UI's current details (the workflow metadata query it reads) say what waits and how to answer.
    const details = await waitFor('the current details to show the request', async () => {
      const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      return meta.currentDetails?.includes('Waiting for approval') ? meta.currentDetails : undefined;
    });
    assert.match(details, /git push origin main/);
    assert.match(details, /ccflow approve ap-allow/);
    const shown = (await ccflowCli(h, ['status', 'ap-allow'])).stdout;
    assert.match(shown, /waiting-approval/);
    assert.match(shown, /waits: req-1 Bash .*git push origin main/);

    // The sandbox is torn down after the grace period.
    await waiting(handle, true);
    assert.deepEqual(await h.provider.list({ metadata: { workflowId: 'ap-allow' } }), []);

    const answered = await ccflowCli(h, ['approve', 'ap-allow']);
    assert.match(answered.stdout, /^allowed ap-allow\/req-1 \(Bash: git push origin main/);
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'pushed main' });
    assert.notEqual(result.sandboxId, firstSandbox, 'resumed in a fresh sandbox');
    assert.equal(result.turns?.[0]?.restored, true);
    const sent = toolResultSent(h, request.toolUseId);
    assert.ok(sent && sent.is_error !== true, JSON.stringify(sent));
    assert.equal(await savedWorkspace(h, 'ap-allow', 'pushed.txt'), 'main\n', 'the command ran, in the restored workspace');
    const done = await handle.query(statusQuery);
    assert.equal(done.approval?.pending, undefined);
    assert.equal((await handle.describe()).typedSearchAttributes.get(CcflowWaiting), undefined);
    assertCostOfOneSession(result, done);
  });

  test('deny with a reason: the model reads the reason as the tool error, and the task still completes', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'ap-deny',
      args: [{ prompt: '[ap-deny] Push the branch.', approval: { tools: [RULE] } }],
    });
    const request = (await waiting(handle)).approval?.pending;
    assert.ok(request);
    const reason = 'main is frozen for the release; open a pull request';
    const { result: answer } = await ccflow.approve('ap-deny', { decision: 'deny', reason });
    assert.equal(answer.decision, 'deny');
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'could not push: denied' });
    const sent = toolResultSent(h, request.toolUseId);
    assert.equal(sent?.is_error, true);
    assert.match(sent?.content ?? '', new RegExp(`A human reviewer denied this action: ${reason}`));
    assert.equal(await savedWorkspace(h, 'ap-deny', 'pushed.txt'), undefined, 'the command did not run');
    // Answered within the grace period: the same sandbox went on.
    assert.equal(result.turns?.[0]?.restored, undefined);
    // Answering again is refused by the task, and nothing changes.
    await assert.rejects(ccflow.approve('ap-deny/req-1', { decision: 'allow' }), /nothing waits for approval under ap-deny\/req-1/);
  });

  test('remember: session lets a second matching call run without asking', async () => {
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'ap-remember',
      args: [{ prompt: '[ap-remember] Push both branches.', approval: { tools: [RULE] } }],
    });
    await waiting(handle);
    const { stdout } = await ccflowCli(h, ['approve', 'ap-remember', '--remember']);
    assert.match(stdout, /allowed for the rest of ap-remember: Bash\(git push:\*\)/);
    const result = (await handle.result()) as TaskResult;
    assert.deepEqual(result.result, { summary: 'pushed a and b' });
    const status = await handle.query(statusQuery);
    assert.equal(status.approval?.requests, 1, 'the second push did not ask');
    assert.equal(await savedWorkspace(h, 'ap-remember', 'pushed.txt'), 'a\nb\n');
    // The hook saw the second call and allowed it as remembered.
    const log = (await h.artifacts.get('ap-remember', 'runs/run-2/a1/approval-hook.jsonl'))?.toString('utf8') ?? '';
    assert.deepEqual(
      log
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { outcome: string }).outcome),
      ['allowed', 'remembered'],
    );
  });

  test('ccflow pipeline run shows a waiting step, and ccflow approve <pipeline> answers it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-pl-'));
    const file = path.join(dir, 'release.json');
    await writeFile(
      file,
      JSON.stringify({
        defaults: { approval: { tools: [RULE] } },
        steps: [{ name: 'release', prompt: '[ap-pipeline] Push the release.' }],
      }),
    );
    const run = ccflowCli(h, ['pipeline', 'run', file, '--id', 'ap-pipeline']);
    const pipeline = h.client.workflow.getHandle('ap-pipeline');
    await waitFor('the step to wait', async () => {
      const s = await pipeline.query(pipelineStatusQuery);
      return s.steps[0]?.state === 'waiting' ? s : undefined;
    });
    const answered = await ccflowCli(h, ['approve', 'ap-pipeline']);
    assert.match(answered.stdout, /allowed ap-pipeline\.release\/req-1/);
    const { stdout, stderr } = await run;
    assert.match(stderr, /release +waiting +Bash call req-1 waits for approval: ccflow approve ap-pipeline\.release/);
    assert.match(stderr, /release +done/);
    assert.match(stdout, /"summary": "released"/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('approvals across a worker restart', () => {
  let h: Harness;

  before(async () => {
    h = await startHarness({ script });
  });
  after(async () => {
    await h?.close();
  });

  test('a worker that dies while a task waits changes nothing: the next one releases, restores and finishes it', async () => {
    const first = await h.spawnWorker();
    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'ap-restart',
      args: [{ prompt: '[ap-restart] Push the branch.', approval: { tools: [RULE], keepSandboxSeconds: 3 } }],
    });
    const request = (await waiting(handle)).approval?.pending;
    assert.ok(request);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    const second = await h.spawnWorker();
    try {
      // The grace period ran out while no worker was there: the new worker releases the sandbox.
      await waiting(handle, true);
      const same = (await handle.query(statusQuery)).approval?.pending;
      assert.equal(same?.requestId, request.requestId, 'the same request still waits');
      await new CcflowClient(h.client, h.taskQueue).approve('ap-restart', { decision: 'allow' });
      const result = (await handle.result()) as TaskResult;
      assert.deepEqual(result.result, { summary: 'pushed after a worker restart' });
      assert.equal(await savedWorkspace(h, 'ap-restart', 'pushed.txt'), 'main\n');
      // The held call was made once: one first-step request reached the model.
      const firstSteps = h.model.requests.filter((r) => !r.side && r.stepIndex === 0 && JSON.stringify(r.body).includes('[ap-restart]'));
      assert.equal(firstSteps.length, 1);
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
    }
  });
});
