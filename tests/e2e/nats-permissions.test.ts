/**
 * §7 permission queries on ccflow's durable approvals, on real parts: a nats-server, a Temporal
 * dev server, a worker publishing live events, the real claude CLI in bubblewrap, and the scripted
 * model. A session spawned with seed 002's `permission_mode: "default"` holds every call of a tool
 * it was not allowed (the task's approval rules); the front end asks the prompting caller with a
 * query chunk and answers the task's `approve` Update with the reply. Unanswered, the call stays
 * held in the task: a late reply still answers, and so does a caller of a restarted front end.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { CcflowClient } from '../../src/client/index.js';
import { CcflowSessionBackend, NatsHost } from '../../src/frontends/nats/index.js';
import { SANDBOX_WORKDIR } from '../../src/sandbox/layout.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { NatsLiveSink } from '../../src/worker/live-nats.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { promptStream, requestJson } from '../helpers/nats.js';

const bash = (command: string) => ({ name: 'Bash', input: { command, description: 'Run it' } });
const script = {
  conversations: [
    {
      match: 'make a file',
      steps: [
        { text: 'Writing made.txt.', toolUse: [bash('echo made > made.txt')] },
        { text: 'made.txt is written.' },
        { text: 'Removing made.txt.', toolUse: [bash('rm made.txt')] },
        { text: 'I was not allowed to remove made.txt.' },
        { toolUse: [bash('echo late > late.txt')] },
        { text: 'late.txt is written.' },
        { toolUse: [bash('echo restart > restart.txt')] },
        { text: 'restart.txt is written.' },
        { text: 'Still here.' },
        { toolUse: [bash('echo never > never.txt')] },
        { text: 'never.txt was not written.' },
      ],
    },
  ],
};

const OWNER = 'perm';
const ctl = (verb: string) => `agents.${verb}.cc-headless.${OWNER}.control`;
type Chunk = { type: string; data: unknown };
type Query = { id: string; reply_subject: string; prompt: string };
const statusTag = (c: Chunk) => (c.type === 'status' ? (String(c.data).split(':')[0] ?? '') : c.type);
const toolUseOf = (c: Chunk | undefined) =>
  JSON.parse(String(c?.data).slice('tool_use:'.length)) as { id: string; name: string; input: unknown };
const toolResultOf = (c: Chunk | undefined) =>
  JSON.parse(String(c?.data).slice('tool_result:'.length)) as { tool_use_id: string; output: string; is_error: boolean };

/** Sends a prompt and reads until the first query chunk; then the caller goes away (its inbox closes). */
async function promptUntilQuery(nc: NatsConnection, subject: string, prompt: string): Promise<{ chunks: Chunk[]; query: Query }> {
  const inbox = createInbox();
  const chunks: Chunk[] = [];
  const sub = nc.subscribe(inbox);
  await nc.flush();
  nc.publish(subject, prompt, { reply: inbox });
  for await (const m of sub) {
    if (m.data.length === 0) throw new Error(`the stream ended before a query: ${JSON.stringify(chunks)}`);
    const chunk = JSON.parse(m.string()) as Chunk;
    chunks.push(chunk);
    if (chunk.type === 'query') {
      sub.unsubscribe();
      return { chunks, query: chunk.data as Query };
    }
  }
  throw new Error('the inbox closed before a query');
}

describe('ccflow nats: permission queries are durable approvals', () => {
  let h: Harness;
  let nats: NatsServer;
  let hostNc: NatsConnection;
  let nc: NatsConnection;
  let host: NatsHost;
  let client: CcflowClient;
  let cwd: string;
  const startHost = () =>
    NatsHost.start({
      nc: hostNc,
      owner: OWNER,
      backend: (identity) => new CcflowSessionBackend({ client, nc: hostNc, identity, approvalPollMs: 250 }),
    });

  before(async () => {
    h = await startHarness({ script });
    nats = await startNatsServer();
    const live = new NatsLiveSink({ connection: { server: nats.url } });
    await live.ready();
    await h.startWorker({ live });
    client = new CcflowClient(h.client, h.taskQueue);
    hostNc = await connect({ servers: nats.url });
    nc = await connect({ servers: nats.url });
    host = await startHost();
    cwd = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-perm-'));
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
  const sandboxFile = async (name: string) => {
    const status = await client.taskStatus(taskId);
    const sandbox = await h.provider.connect(status.sandboxId ?? '');
    return (await sandbox.readFile(`${SANDBOX_WORKDIR}/${name}`))?.toString('utf8');
  };

  test('permission_mode "default" gives the task a rule for each tool that would ask', async () => {
    const r = await requestJson(
      nc,
      ctl('spawn'),
      JSON.stringify({ cwd, allowed_tools: ['Read', 'Glob', 'Grep'], permission_mode: 'default', max_lifetime_s: 900 }),
    );
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    session = r.json as typeof session;
    taskId = `nats.cc-headless.${OWNER}.control.${session.session_id}`;
    const history = await h.client.workflow.getHandle(taskId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const spec = JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as {
      allowedTools: string[];
      permissionMode: string;
      approval: { tools: string[]; timeoutSeconds: number; onTimeout: string };
    };
    assert.deepEqual(spec.approval, {
      tools: ['Bash', 'Edit', 'MultiEdit', 'NotebookEdit', 'Write', 'WebFetch', 'WebSearch'],
      onTimeout: 'deny',
      timeoutSeconds: 900,
    });
    // A held call the person allows must be able to run.
    for (const tool of spec.approval.tools) assert.ok(spec.allowedTools.includes(tool), tool);
    assert.equal(spec.permissionMode, 'default');
  });

  test('a held call is asked about through NATS; "yes" runs it', async (t) => {
    const queries: Query[] = [];
    const at: Record<string, number> = {};
    const reply = await promptStream(nc, session.subject, 'make a file', {
      barrier: session.status_subject,
      onChunk: (c) => {
        at[statusTag(c)] ??= Date.now();
        if (c.type !== 'query') return;
        queries.push(c.data as Query);
        nc.publish((c.data as Query).reply_subject, 'yes');
      },
    });
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    const kinds = reply.chunks.map(statusTag);
    const runs = kinds.slice(1).filter((k, i, all) => k !== all[i - 1]);
    assert.deepEqual(runs, ['response', 'tool_use', 'query', 'tool_result', 'response', 'cost']);
    const use = toolUseOf(reply.chunks[kinds.indexOf('tool_use')]);
    assert.equal(queries.length, 1);
    assert.equal(queries[0]?.id, use.id, 'the query names the tool_use chunk before it');
    assert.equal(
      queries[0]?.prompt,
      `Claude wants to use tool: Bash\n${JSON.stringify(use.input, null, 2)}\nReply 'yes' to allow or 'no' to deny.`,
    );
    const result = toolResultOf(reply.chunks[kinds.indexOf('tool_result')]);
    assert.equal(result.tool_use_id, use.id);
    assert.equal(result.is_error, false, result.output);
    assert.equal(await sandboxFile('made.txt'), 'made\n');
    const status = await client.taskStatus(taskId);
    assert.deepEqual(status.turns[0]?.result, { text: 'made.txt is written.' });
    assert.equal(status.approval?.answered[0]?.decision, 'allow');
    assert.equal(status.approval?.answered[0]?.by, 'human');
    assert.equal(reply.terminators, 1);
    assert.equal(reply.extra, 0);
    t.diagnostic(
      `tool_use → query ${(at['query'] ?? 0) - (at['tool_use'] ?? 0)} ms; yes → tool_result ${(at['tool_result'] ?? 0) - (at['query'] ?? 0)} ms`,
    );
  });

  test('"no" denies: the agent is told and goes on', async () => {
    const reply = await promptStream(nc, session.subject, 'now remove it', {
      onChunk: (c) => {
        if (c.type === 'query') nc.publish((c.data as Query).reply_subject, 'no');
      },
    });
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    const kinds = reply.chunks.map(statusTag);
    const result = toolResultOf(reply.chunks[kinds.indexOf('tool_result')]);
    assert.equal(result.is_error, true);
    assert.match(result.output, /denied this action: user denied/);
    assert.equal(await sandboxFile('made.txt'), 'made\n', 'the file is still there');
    const status = await client.taskStatus(taskId);
    assert.deepEqual(status.turns[1]?.result, { text: 'I was not allowed to remove made.txt.' });
    assert.equal(status.approval?.answered.at(-1)?.decision, 'deny');
  });

  test('a reply that comes after the caller left still answers', async () => {
    const asked = await promptUntilQuery(nc, session.subject, 'write another');
    await sleep(2_000);
    assert.equal((await client.approvals({ target: taskId })).length, 1, 'the call still waits in the task');
    nc.publish(asked.query.reply_subject, 'ok');
    let status = await client.taskStatus(taskId);
    for (const deadline = Date.now() + 60_000; status.turns[2]?.result === undefined && Date.now() < deadline;) {
      await sleep(200);
      status = await client.taskStatus(taskId);
    }
    assert.deepEqual(status.turns[2]?.result, { text: 'late.txt is written.' });
    assert.equal(await sandboxFile('late.txt'), 'late\n');
  });

  test('the call waits through a front-end restart; the next caller is asked about it', async () => {
    const asked = await promptUntilQuery(nc, session.subject, 'write one more');
    await host.stop();
    host = await startHost();
    const [pending] = await client.approvals({ target: taskId });
    assert.equal(pending?.toolUseId, asked.query.id);
    // The old inbox is gone with the old front end; a new prompt queues behind the held call and asks again.
    const queries: Query[] = [];
    const reply = await promptStream(nc, session.subject, 'are you there?', {
      onChunk: (c) => {
        if (c.type !== 'query') return;
        queries.push(c.data as Query);
        nc.publish((c.data as Query).reply_subject, 'approve');
      },
    });
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    assert.deepEqual(
      queries.map((q) => q.id),
      [asked.query.id],
    );
    assert.equal(
      reply.chunks
        .filter((c) => c.type === 'response')
        .map((c) => c.data)
        .join(''),
      'Still here.',
    );
    const status = await client.taskStatus(taskId);
    assert.deepEqual(status.turns[3]?.result, { text: 'restart.txt is written.' });
    assert.deepEqual(status.turns[4]?.result, { text: 'Still here.' });
    assert.equal(await sandboxFile('restart.txt'), 'restart\n');
    assert.equal(status.runs.length, 9, 'one run per model step: no turn was started twice');
  });

  test('stopping the session denies the call it waits on, and the task ends', async () => {
    await promptUntilQuery(nc, session.subject, 'one last thing');
    const stopped = await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: session.session_id }));
    assert.deepEqual(stopped.json, { ok: true, session_id: session.session_id });
    const result = await client.result(taskId);
    assert.deepEqual(result.turns?.[5]?.result, { text: 'never.txt was not written.' });
    const status = await client.taskStatus(taskId);
    assert.deepEqual(status.approval?.answered.map((a) => [a.decision, a.reason]).at(-1), ['deny', 'session stopped']);
  });
});
