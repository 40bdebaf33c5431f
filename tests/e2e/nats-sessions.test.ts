/**
 * `ccflow nats` on real parts: a nats-server, a Temporal dev server, a worker publishing live
 * events, the real claude CLI in bubblewrap, and the scripted model. Seed 002's callers drive it
 * from a plain NATS connection: spawn opens a task, each prompt is a follow-up whose output
 * streams per token from the worker, stop closes the task.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CcflowClient } from '../../src/client/index.js';
import { CcflowSessionBackend, NatsHost } from '../../src/frontends/nats/index.js';
import { SANDBOX_WORKDIR } from '../../src/sandbox/layout.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { NatsLiveSink } from '../../src/worker/live-nats.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { promptStream, requestJson } from '../helpers/nats.js';

const FIRST_TEXT = 'Looking at the files first; the listing waits for a release file.';
const FINAL_TEXT = 'The workspace holds notes.md and release, nothing else.';
const SECOND_TEXT = 'Same session: I still remember notes.md.';
// The Bash call blocks until the test drops `release` into the workspace, so the test can look
// at the task while the turn is provably still running.
const GATED_LS = 'while [ ! -e release ]; do sleep 0.1; done; ls';

const script = {
  conversations: [
    {
      match: 'what is here',
      steps: [
        { text: FIRST_TEXT, toolUse: [{ name: 'Bash', input: { command: GATED_LS, description: 'List the files once released' } }] },
        { text: FINAL_TEXT },
        { text: SECOND_TEXT },
        // Turn 3 brings an attachment; its path is announced in the prompt (the 3rd turn, the 1st file).
        { toolUse: [{ name: 'Read', input: { file_path: `${SANDBOX_WORKDIR}/.ccflow-attachments/turn-3/1-hello.txt` } }] },
        { text: 'The attachment says hello.' },
      ],
    },
  ],
};

const OWNER = 'e2e';
const ctl = (verb: string) => `agents.${verb}.cc-headless.${OWNER}.control`;

describe('ccflow nats: sessions are ccflow tasks', () => {
  let h: Harness;
  let nats: NatsServer;
  let hostNc: NatsConnection;
  let nc: NatsConnection;
  let host: NatsHost;
  let client: CcflowClient;
  let cwd: string;

  before(async () => {
    h = await startHarness({ script });
    nats = await startNatsServer();
    const live = new NatsLiveSink({ connection: { server: nats.url } });
    await live.ready();
    await h.startWorker({ live });
    client = new CcflowClient(h.client, h.taskQueue);
    hostNc = await connect({ servers: nats.url });
    nc = await connect({ servers: nats.url });
    host = await NatsHost.start({
      nc: hostNc,
      owner: OWNER,
      backend: (identity) => new CcflowSessionBackend({ client, nc: hostNc, identity }),
    });
    cwd = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-cwd-'));
    await writeFile(path.join(cwd, 'notes.md'), '# notes\n');
  });

  after(async () => {
    await host?.stop();
    await hostNc?.close();
    await nc?.close();
    await h?.close();
    await nats?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  let session: { session_id: string; subject: string; status_subject: string };
  let taskId: string;

  test('spawn opens a task with its sandbox and no turn, findable by its origin', async () => {
    const r = await requestJson(
      nc,
      ctl('spawn'),
      JSON.stringify({ cwd, allowed_tools: ['Bash', 'Read'], permission_mode: 'dontAsk', max_lifetime_s: 900, max_turns: 10 }),
    );
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    session = r.json as typeof session;
    taskId = `nats.cc-headless.${OWNER}.control.${session.session_id}`;
    // The reply comes once the session is registered; the task makes its sandbox meanwhile.
    let status = await client.taskStatus(taskId);
    for (const deadline = Date.now() + 120_000; status.phase !== 'open' && Date.now() < deadline;) {
      await sleep(200);
      status = await client.taskStatus(taskId);
    }
    assert.equal(status.phase, 'open');
    assert.ok(status.sandboxId, 'the sandbox was made at spawn');
    assert.deepEqual(status.turns, []);
    assert.equal(status.runs.length, 0, 'no agent ran');
    assert.equal(h.model.requests.length, 0, 'the model was not called');
    const task = await client.describe(taskId);
    assert.equal(task.status, 'running');
    assert.equal(task.origin, `nats:cc-headless.${OWNER}.control`);
    assert.equal((task.memo?.natsSession as { cwd?: string } | undefined)?.cwd, cwd);
  });

  test('a prompt streams per-token text and tool calls from the worker while the turn runs', async () => {
    let statusAtFirstDelta: Awaited<ReturnType<CcflowClient['taskStatus']>> | undefined;
    let released = false;
    const reply = await promptStream(nc, session.subject, 'what is here? list the files', {
      barrier: session.status_subject,
      onChunk: (c) => {
        if (c.type !== 'response' || released) return;
        released = true;
        // The turn is blocked in its Bash call until `release` exists: look, then release it.
        void (async () => {
          statusAtFirstDelta = await client.taskStatus(taskId);
          const sandbox = await h.provider.connect(statusAtFirstDelta.sandboxId ?? '');
          await sandbox.writeFile(`${SANDBOX_WORKDIR}/release`, '');
        })();
      },
    });
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    assert.ok(statusAtFirstDelta, 'a text delta arrived');
    assert.equal(statusAtFirstDelta.turns[0]?.result, undefined, 'the first delta arrived while the turn still ran');

    const kinds = reply.chunks.map((c) => (c.type === 'status' ? String(c.data).split(':')[0] : c.type));
    assert.equal(kinds[0], 'ack');
    const runs = kinds.slice(1).filter((k, i, all) => k !== all[i - 1]);
    assert.deepEqual(runs, ['response', 'tool_use', 'tool_result', 'response', 'cost']);
    const useAt = kinds.indexOf('tool_use');
    const resultAt = kinds.indexOf('tool_result');
    const texts = (from: number, to: number) =>
      reply.chunks
        .slice(from, to)
        .filter((c) => c.type === 'response')
        .map((c) => String(c.data));
    // Per-token: several deltas, in order, making up each message exactly.
    assert.ok(texts(1, useAt).length > 1, `deltas: ${JSON.stringify(texts(1, useAt))}`);
    assert.equal(texts(1, useAt).join(''), FIRST_TEXT);
    assert.equal(texts(resultAt, reply.chunks.length).join(''), FINAL_TEXT);

    const toolUse = JSON.parse(String(reply.chunks[useAt]?.data).slice('tool_use:'.length)) as { id: string; name: string; input: unknown };
    assert.equal(toolUse.name, 'Bash');
    assert.deepEqual(toolUse.input, { command: GATED_LS, description: 'List the files once released' });
    const toolResult = JSON.parse(String(reply.chunks[resultAt]?.data).slice('tool_result:'.length)) as Record<string, unknown>;
    assert.deepEqual(toolResult, { tool_use_id: toolUse.id, output: 'notes.md\nrelease', is_error: false });

    // The cost chunk says what the task itself counted.
    const status = await client.taskStatus(taskId);
    const cost = JSON.parse(String(reply.chunks.at(-1)?.data).slice('cost:'.length)) as { turn_cost_usd: number; total_cost_usd: number };
    assert.ok(cost.turn_cost_usd > 0);
    assert.equal(cost.turn_cost_usd, status.turns[0]?.costUsd);
    assert.equal(cost.total_cost_usd, status.totalCostUsd);
    assert.deepEqual(status.turns[0]?.result, { text: FINAL_TEXT });
    assert.equal(reply.terminators, 1);
    assert.equal(reply.extra, 0);

    // Deltas never enter the task's history; the turn's result (its final text) does.
    const history = JSON.stringify(await h.client.workflow.getHandle(taskId).fetchHistory());
    assert.ok(!history.includes('text_delta') && !history.includes('stream_event'));
    assert.ok(!history.includes(JSON.stringify(texts(1, useAt)[1])), 'no single delta is in history');
  });

  test('the next prompt resumes the same Claude session; its total adds up', async () => {
    const before = await client.taskStatus(taskId);
    const reply = await promptStream(nc, session.subject, JSON.stringify({ prompt: 'do you remember?' }));
    assert.equal(reply.error, undefined);
    assert.equal(
      reply.chunks
        .filter((c) => c.type === 'response')
        .map((c) => c.data)
        .join(''),
      SECOND_TEXT,
    );
    const status = await client.taskStatus(taskId);
    assert.equal(status.turns[1]?.sessionId, before.turns[0]?.sessionId);
    const cost = JSON.parse(String(reply.chunks.at(-1)?.data).slice('cost:'.length)) as { total_cost_usd: number };
    assert.equal(cost.total_cost_usd, status.totalCostUsd);
  });

  test('attachments of a JSON envelope reach the sandbox, and the agent reads them', async () => {
    const envelope = {
      prompt: 'read the attachment',
      attachments: [{ filename: 'hello.txt', content: Buffer.from('hello from NATS').toString('base64') }],
    };
    const reply = await promptStream(nc, session.subject, JSON.stringify(envelope));
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    const result = reply.chunks.find((c) => String(c.data).startsWith('tool_result:'));
    assert.match(String(result?.data), /hello from NATS/);
    const status = await client.taskStatus(taskId);
    assert.deepEqual(status.turns[2]?.result, { text: 'The attachment says hello.' });
  });

  test('list finds the open task; stop closes it; then it is unknown', async () => {
    const listed = (await requestJson(nc, ctl('list'), '')).json as { sessions: Record<string, unknown>[] };
    const entry = listed.sessions.find((s) => s.session_id === session.session_id);
    assert.ok(entry);
    assert.equal(entry.turn_count, 3);
    assert.equal(entry.cwd, cwd);
    assert.deepEqual(
      await new CcflowClient(h.client, h.taskQueue)
        .list({ origin: `nats:cc-headless.${OWNER}.control`, status: 'running' })
        .then((ts) => ts.map((t) => t.workflowId)),
      [taskId],
    );

    const stopped = await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: session.session_id }));
    assert.deepEqual(stopped.json, { ok: true, session_id: session.session_id });
    // At once, while the task still tears down, and after: the session is gone either way.
    const again = await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: session.session_id }));
    assert.deepEqual(again.error, { code: 404, description: `no such session: ${session.session_id}` });
    const result = await client.result(taskId);
    assert.equal(result.turns?.length, 3);
    await assert.rejects(nc.request(session.subject, 'anyone?', { timeout: 5_000 }), /no responders/i);
    const later = await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: session.session_id }));
    assert.deepEqual(later.error, { code: 404, description: `no such session: ${session.session_id}` });
  });
});
