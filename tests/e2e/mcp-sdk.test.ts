/**
 * `ccflow mcp` driven by the official MCP TypeScript SDK client, over stdio and over Streamable
 * HTTP: a real dev server and worker, real claude in bubblewrap, the scripted model. Tools,
 * resources, progress notifications during wait_task, follow-ups, a held tool call approved
 * through approve, a task's change to its repository through get_changes, and the errors a
 * model must be able to act on (bad spec, unknown id, no worker polling, nothing to approve).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import { makeRepo, testGit } from '../helpers/git-fixtures.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { connectHttp, connectStdio, mcpEnv, resultJson, resultText, startHttpServer, type McpSession } from '../helpers/mcp.js';

const submit = (input: Record<string, unknown>) => ({ toolUse: [{ name: SUBMIT_RESULT_TOOL, input }] });
const bash = (command: string, text?: string) => ({ ...(text ? { text } : {}), toolUse: [{ name: 'Bash', input: { command } }] });

/** One inner conversation per transport; the first step is slow so a wait sees the task at work. */
const conversation = (tag: string) => ({
  match: `\\[${tag}\\]`,
  steps: [
    { ...bash('printf "alpha beta gamma" > words.txt && wc -w < words.txt', 'Counting the words.'), delayMs: 2_500 },
    submit({ words: 3, summary: 'words.txt has 3 words' }),
    { text: 'Counted the words.' },
    // the follow-up turn (the model sees everything above)
    bash('echo " delta" >> words.txt && wc -w < words.txt'),
    submit({ words: 4, summary: 'now 4 words' }),
    { text: 'Counted again.' },
  ],
});

const resultSchema = {
  type: 'object',
  properties: { words: { type: 'integer' }, summary: { type: 'string' } },
  required: ['words', 'summary'],
};

const TOOLS = ['approve', 'cancel_task', 'follow_up', 'get_changes', 'get_task', 'list_tasks', 'run_pipeline', 'start_task', 'wait_task'];

const RULE = 'Bash(git push:*)';
const PUBLISH = 'git push --dry-run origin HEAD 2>/dev/null; echo published >> notes.txt';
/** A task on a repository whose second call is held by its approval rule. */
const approvalConversation = {
  match: '\\[mcp-approve\\]',
  steps: [
    bash('printf "hello from the agent\\n" > notes.txt', 'Writing the notes.'),
    bash(PUBLISH, 'Publishing.'),
    submit({ summary: 'wrote and published notes.txt' }),
    { text: 'Done.' },
  ],
};

interface View {
  workflowId: string;
  state: string;
  pendingApprovals?: Array<{
    workflowId: string;
    requestId: string;
    toolName: string;
    input: unknown;
    rules: string[];
    agentText?: string;
  }>;
  turn?: number;
  result?: Record<string, unknown>;
  warning?: string;
  next: string;
}

/** A resource's text (resources may also hold blobs). */
function textOf(content: { uri: string } | undefined): string {
  return content && 'text' in content && typeof content.text === 'string' ? content.text : '';
}

let h: Harness;
before(async () => {
  h = await startHarness({
    script: {
      conversations: [
        conversation('mcp-stdio'),
        conversation('mcp-http'),
        { match: '\\[mcp-pipeline\\]', steps: [submit({ summary: 'planned it' }), { text: 'Planned.' }] },
        approvalConversation,
      ],
    },
  });
  await h.startWorker();
});
after(async () => {
  await h?.close();
});

/** What every transport must do; `extra` adds the transport's own tests. */
function transportSuite(tag: string, connect: () => Promise<McpSession>, extra: (s: () => McpSession, id: () => string) => void): void {
  let s: McpSession;
  let id = '';
  before(async () => {
    s = await connect();
  });
  after(async () => {
    await s?.close();
  });

  test('lists its tools, each described, and its resource templates', async () => {
    const { tools } = await s.client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
    for (const t of tools) assert.ok((t.description ?? '').length > 80, `${t.name} tells a model how to use it`);
    const wait = tools.find((t) => t.name === 'wait_task');
    assert.match(wait?.description ?? '', /never blocks longer/);
    const { resourceTemplates } = await s.client.listResourceTemplates();
    assert.deepEqual(resourceTemplates.map((r) => r.uriTemplate).sort(), ['ccflow://tasks/{id}', 'ccflow://tasks/{id}/transcript']);
    assert.match(s.client.getInstructions() ?? '', /wait_task/);
  });

  test('start_task returns the workflow id at once; wait_task sends progress and returns the result', async () => {
    const started = resultJson<View>(
      await s.client.callTool({
        name: 'start_task',
        arguments: { prompt: `[${tag}] Count the words in words.txt.`, resultSchema, keepAliveSeconds: 300 },
      }),
    );
    id = started.workflowId;
    assert.match(id, /^task-/);
    assert.equal(started.state, 'running');
    assert.match(started.next, /wait_task/);

    const progress: Progress[] = [];
    const waited = resultJson<View>(
      await s.client.callTool({ name: 'wait_task', arguments: { workflowId: id, timeoutSeconds: 600 } }, undefined, {
        onprogress: (p) => progress.push(p),
        resetTimeoutOnProgress: true,
        timeout: 120_000,
      }),
    );
    assert.equal(waited.state, 'open', JSON.stringify(waited));
    assert.equal(waited.turn, 1);
    assert.deepEqual(waited.result, { words: 3, summary: 'words.txt has 3 words' });
    assert.match(waited.next, /follow_up/);
    assert.ok(progress.length >= 1, 'progress notifications while waiting');
    for (const [i, p] of progress.entries()) {
      assert.equal(p.total, 600);
      assert.match(p.message ?? '', /agent turns/);
      if (i > 0) assert.ok(p.progress > (progress[i - 1]?.progress ?? 0), 'progress increases');
    }
  });

  test('reads the task and transcript resources; lists the task as a resource', async () => {
    const transcript = await s.client.readResource({ uri: `ccflow://tasks/${id}/transcript` });
    const text = textOf(transcript.contents[0]);
    assert.equal(transcript.contents[0]?.mimeType, 'text/plain');
    assert.match(text, new RegExp(`\\[${tag}\\] Count the words`), text);
    assert.match(text, /Counting the words\./);
    assert.match(text, /Bash: printf "alpha beta gamma"/);
    const task = await s.client.readResource({ uri: `ccflow://tasks/${id}` });
    assert.equal((JSON.parse(textOf(task.contents[0])) as View).state, 'open');
    const { resources } = await s.client.listResources();
    assert.ok(
      resources.some((r) => r.uri === `ccflow://tasks/${id}`),
      resources.map((r) => r.uri).join(', '),
    );
  });

  test('a bad spec is a tool error naming the field; nothing starts', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ prompt: 'x', resultSchema: { type: 'array' } }, /resultSchema: must be a JSON Schema object with "type": "object"/],
      [{ prompt: 'x', keepAliveSeconds: -5 }, /keepAliveSeconds/],
      [{ prompt: 'x', files: { '../outside.txt': 'no' } }, /files\["\.\.\/outside\.txt"\]: must be a relative path/],
      [{ prompt: 'x', schema: { type: 'object' } }, /Unrecognized key: "schema"/],
      [{ prompt: 42 }, /expected string, received number at prompt/],
      [{ prompt: 'x', filesFrom: '/nowhere/at/all' }, /filesFrom: \/nowhere\/at\/all is not a directory\. Nothing was started/],
    ];
    const before = resultJson<{ tasks: unknown[] }>(await s.client.callTool({ name: 'list_tasks', arguments: { limit: 100 } })).tasks
      .length;
    for (const [args, expected] of cases) {
      const r = await s.client.callTool({ name: 'start_task', arguments: args });
      assert.equal(r.isError, true, `${JSON.stringify(args)} is refused`);
      assert.match(resultText(r), expected);
    }
    const afterwards = resultJson<{ tasks: unknown[] }>(await s.client.callTool({ name: 'list_tasks', arguments: { limit: 100 } })).tasks
      .length;
    assert.equal(afterwards, before);
  });

  test('an unknown id is a tool error that says what to do', async () => {
    for (const name of ['get_task', 'wait_task', 'cancel_task']) {
      const r = await s.client.callTool({ name, arguments: { workflowId: 'no-such-task' } });
      assert.equal(r.isError, true, name);
      assert.match(resultText(r), /no task with workflow id "no-such-task"\. Check the workflowId .* list_tasks/);
    }
    const f = await s.client.callTool({ name: 'follow_up', arguments: { workflowId: 'no-such-task', prompt: 'more' } });
    assert.match(resultText(f), /no task with workflow id "no-such-task"/);
    await assert.rejects(
      s.client.readResource({ uri: 'ccflow://tasks/no-such-task/transcript' }),
      /no task with workflow id "no-such-task"/,
    );
  });

  extra(
    () => s,
    () => id,
  );
}

describe('ccflow mcp over stdio (official SDK client)', () => {
  transportSuite(
    'mcp-stdio',
    () => connectStdio(mcpEnv(h)),
    (s, id) => {
      test('follow_up runs the next turn in the same session; cancel_task with close ends the open task', async () => {
        const progress: Progress[] = [];
        const turn = resultJson<View>(
          await s().client.callTool(
            { name: 'follow_up', arguments: { workflowId: id(), prompt: 'Add " delta" and count again.', waitSeconds: 600 } },
            undefined,
            { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true, timeout: 120_000 },
          ),
        );
        assert.equal(turn.turn, 2);
        assert.deepEqual(turn.result, { words: 4, summary: 'now 4 words' });
        const closed = resultJson<View>(
          await s().client.callTool({ name: 'cancel_task', arguments: { workflowId: id(), close: true, waitSeconds: 120 } }),
        );
        assert.equal(closed.state, 'succeeded', JSON.stringify(closed));
        assert.deepEqual(closed.result, { words: 4, summary: 'now 4 words' });
      });

      test('run_pipeline starts a pipeline; wait_task returns each step and its result; a bad spec names the field', async () => {
        const started = resultJson<View>(
          await s().client.callTool({
            name: 'run_pipeline',
            arguments: {
              spec: { name: 'mcp-one', steps: [{ name: 'plan', prompt: '[mcp-pipeline] Plan {{inputs.what}}.' }] },
              inputs: { what: 'a thing' },
            },
          }),
        );
        assert.match(started.workflowId, /^pipeline-/);
        const done = resultJson<View & { steps: Array<{ name: string; state: string; result?: unknown }> }>(
          await s().client.callTool({ name: 'wait_task', arguments: { workflowId: started.workflowId, timeoutSeconds: 600 } }, undefined, {
            resetTimeoutOnProgress: true,
            timeout: 120_000,
            onprogress: () => undefined,
          }),
        );
        assert.equal(done.state, 'succeeded', JSON.stringify(done));
        assert.deepEqual(
          done.steps.map((st) => [st.name, st.state, st.result]),
          [['plan', 'done', { summary: 'planned it' }]],
        );
        const bad = await s().client.callTool({
          name: 'run_pipeline',
          arguments: { spec: { steps: [{ name: 'a', prompt: 'x', dependsOn: ['nope'] }] } },
        });
        assert.equal(bad.isError, true);
        assert.match(resultText(bad), /invalid pipeline: .*nope/);
      });

      test('a held call waits: wait_task returns it, approve allows it, get_changes reads the commit', async () => {
        const git = await testGit();
        const root = path.join(h.tmp, 'repos');
        const repo = await makeRepo(git, root, 'notes.git', { files: { 'README.md': '# notes\n' } });
        try {
          const call = (name: string, args: Record<string, unknown>) =>
            s().client.callTool({ name, arguments: args }, undefined, {
              onprogress: () => undefined,
              resetTimeoutOnProgress: true,
              timeout: 120_000,
            });
          const started = resultJson<View>(
            await call('start_task', {
              prompt: '[mcp-approve] Write notes.txt and publish it.',
              repo: { url: repo.bare },
              approval: { tools: [RULE] },
            }),
          );
          const wf = started.workflowId;

          const held = resultJson<View>(await call('wait_task', { workflowId: wf, timeoutSeconds: 600 }));
          assert.equal(held.state, 'waiting-for-approval', JSON.stringify(held));
          assert.match(held.next, /approve/);
          const pending = held.pendingApprovals?.[0];
          assert.equal(held.pendingApprovals?.length, 1);
          assert.equal(pending?.workflowId, wf);
          assert.equal(pending?.toolName, 'Bash');
          assert.equal((pending?.input as { command?: string }).command, PUBLISH);
          assert.deepEqual(pending?.rules, [RULE]);
          assert.equal(pending?.agentText, 'Publishing.');
          const look = resultJson<View>(await call('get_task', { workflowId: wf }));
          assert.equal(look.state, 'waiting-for-approval');
          assert.equal(look.pendingApprovals?.[0]?.requestId, pending?.requestId);

          const wrong = await call('approve', { workflowId: wf, requestId: 'req-99', decision: 'allow' });
          assert.equal(wrong.isError, true);
          assert.match(resultText(wrong), /nothing waits for approval under .* with request req-99.*Nothing was answered; get_task/);
          const answered = resultJson<View & { decision: string; requestId: string }>(
            await call('approve', { workflowId: wf, requestId: pending?.requestId, decision: 'allow', reason: 'a dry run is fine' }),
          );
          assert.equal(answered.decision, 'allow');
          assert.equal(answered.requestId, pending?.requestId);
          assert.match(answered.next, /wait_task/);

          const done = resultJson<View>(await call('wait_task', { workflowId: wf, timeoutSeconds: 600 }));
          assert.equal(done.state, 'succeeded', JSON.stringify(done));
          assert.deepEqual(done.result, { summary: 'wrote and published notes.txt' });
          const again = await call('approve', { workflowId: wf, decision: 'deny' });
          assert.equal(again.isError, true);
          assert.match(resultText(again), /nothing waits for approval under/);

          interface Changes {
            workflowId: string;
            turn?: number;
            summary: { baseCommit: string; filesChanged: number; insertions: number; files: Array<{ path: string; status: string }> };
            stat: string;
            diff: string;
            diffChars: number;
            diffTruncated?: boolean;
          }
          const changes = resultJson<Changes>(await call('get_changes', { workflowId: wf }));
          assert.equal(changes.summary.baseCommit, repo.head);
          assert.equal(changes.summary.filesChanged, 1);
          assert.deepEqual(
            changes.summary.files.map((f) => [f.path, f.status]),
            [['notes.txt', 'added']],
          );
          assert.equal(changes.summary.insertions, 2);
          // The allowed call ran: its line is in the change.
          assert.match(changes.diff, /^\+hello from the agent\n\+published$/m);
          assert.match(changes.stat, /notes\.txt \| +2 \+\+\n 1 file changed, 2 insertions/);
          assert.equal(changes.diffTruncated, undefined);
          assert.equal(changes.diffChars, changes.diff.length);
          const turn1 = resultJson<Changes>(await call('get_changes', { workflowId: wf, turn: 1 }));
          assert.equal(turn1.turn, 1);
          assert.equal(turn1.diff, changes.diff);
          assert.equal(turn1.summary.filesChanged, 1);
          const cut = resultJson<Changes>(await call('get_changes', { workflowId: wf, maxDiffChars: 60 }));
          assert.equal(cut.diffTruncated, true);
          assert.ok(cut.diff.length <= 60 && cut.diff.length > 0, cut.diff);
          assert.ok(changes.diff.startsWith(cut.diff));

          const none = await call('get_changes', { workflowId: wf, turn: 2 });
          assert.equal(none.isError, true);
          assert.match(resultText(none), /recorded no change for turn 2\. A change is recorded for each finished turn/);
          const noRepo = await call('get_changes', { workflowId: id() });
          assert.equal(noRepo.isError, true);
          assert.match(resultText(noRepo), /no stored change for .*recorded for each finished turn of a task started with repo/);
        } finally {
          await rm(git.home, { recursive: true, force: true });
        }
      });

      test('with no worker polling its queue: start_task refuses, wait_task and get_task say why a task waits', async () => {
        const queue = 'mcp-no-worker';
        const lonely = await connectStdio(mcpEnv(h, { CCFLOW_TASK_QUEUE: queue }));
        try {
          const r = await lonely.client.callTool({ name: 'start_task', arguments: { prompt: 'never runs' } });
          assert.equal(r.isError, true);
          assert.match(resultText(r), /no ccflow worker is polling task queue "mcp-no-worker" at .*npx ccflow worker.*Nothing was started/);

          // A task put on that queue by someone else waits for a worker; the tools say so.
          await h.client.workflow.start('agentTask', { taskQueue: queue, workflowId: 'mcp-orphan', args: [{ prompt: 'orphan' }] });
          const look = resultJson<View>(await lonely.client.callTool({ name: 'get_task', arguments: { workflowId: 'mcp-orphan' } }));
          assert.equal(look.state, 'waiting-for-worker');
          assert.match(look.warning ?? '', /no ccflow worker is polling task queue "mcp-no-worker"/);
          const waited = await lonely.client.callTool({ name: 'wait_task', arguments: { workflowId: 'mcp-orphan', timeoutSeconds: 600 } });
          assert.equal(waited.isError, true);
          assert.match(resultText(waited), /task mcp-orphan has not started: no ccflow worker is polling/);
        } finally {
          await h.client.workflow
            .getHandle('mcp-orphan')
            .terminate('test over')
            .catch(() => undefined);
          await lonely.close();
        }
      });
    },
  );
});

describe('ccflow mcp over Streamable HTTP (official SDK client)', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  before(async () => {
    server = await startHttpServer(mcpEnv(h));
  });
  after(async () => {
    await server?.stop();
  });

  transportSuite(
    'mcp-http',
    () => connectHttp(server.url),
    (s, id) => {
      test('cancel_task cancels a running task and waits until it has ended', async () => {
        const r = resultJson<View & { failure?: { message: string } }>(
          await s().client.callTool({ name: 'cancel_task', arguments: { workflowId: id(), waitSeconds: 120 } }),
        );
        assert.equal(r.state, 'cancelled', JSON.stringify(r));
        const again = resultJson<View>(await s().client.callTool({ name: 'cancel_task', arguments: { workflowId: id() } }));
        assert.match(again.next, /already ended \(cancelled\); nothing to cancel/);
      });

      test('follow_up on an ended task continues its saved session in a new task, and says to use the new id', async () => {
        const turn = resultJson<View & { continuedFrom?: string }>(
          await s().client.callTool(
            { name: 'follow_up', arguments: { workflowId: id(), prompt: 'Add " delta" and count again.', waitSeconds: 600 } },
            undefined,
            { onprogress: () => undefined, resetTimeoutOnProgress: true, timeout: 120_000 },
          ),
        );
        assert.equal(turn.continuedFrom, id());
        assert.match(turn.workflowId, new RegExp(`^${id()}-cont-`));
        assert.equal(turn.state, 'open', JSON.stringify(turn));
        assert.deepEqual(turn.result, { words: 4, summary: 'now 4 words' });
        assert.match(turn.warning ?? '', new RegExp(`use workflowId "${turn.workflowId}" from now on`));
        const closed = resultJson<View>(
          await s().client.callTool({ name: 'cancel_task', arguments: { workflowId: turn.workflowId, close: true, waitSeconds: 120 } }),
        );
        assert.equal(closed.state, 'succeeded');
      });

      test('refuses requests that do not name this server (DNS rebinding) and cross-origin ones', async () => {
        const url = new URL(server.url);
        const post = (headers: Record<string, string>) =>
          new Promise<{ status: number; body: string }>((resolve, reject) => {
            const req = request(
              {
                host: url.hostname,
                port: url.port,
                path: url.pathname,
                method: 'POST',
                headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
              },
              (res) => {
                let body = '';
                res.on('data', (d: Buffer) => (body += d.toString('utf8')));
                res.on('end', () =>
                  resolve({ status: res.statusCode ?? 0, body: (JSON.parse(body) as { error: { message: string } }).error.message }),
                );
              },
            );
            req.on('error', reject);
            req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
          });
        const rebound = await post({ host: `evil.example:${url.port}` });
        assert.equal(rebound.status, 403);
        assert.match(rebound.body, /Host "evil\.example:\d+" is not this server/);
        const crossOrigin = await post({ host: url.host, origin: 'http://evil.example' });
        assert.equal(crossOrigin.status, 403);
        assert.match(crossOrigin.body, /Origin "http:\/\/evil\.example" is not this server's/);
        // Named right, it passes the guard (and is then asked to initialize first).
        const named = await post({ host: `localhost:${url.port}` });
        assert.equal(named.status, 400);
        assert.match(named.body, /start with initialize/);
        assert.equal(server.child.exitCode, null, 'the server is still up');
      });
    },
  );
});
