/**
 * A NATS session outlives its front end: `ccflow nats` runs as a child process, is SIGKILLed in
 * the middle of a prompt, and started again. The session is listed and promptable again, and
 * its task was never restarted: same run, same sandbox, same Claude session, one agent run per
 * prompt, and the interrupted turn finished in the task.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { CcflowClient } from '../../src/client/index.js';
import { PACKAGE_ROOT } from '../../src/home.js';
import { SANDBOX_WORKDIR } from '../../src/sandbox/layout.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { NatsLiveSink } from '../../src/worker/live-nats.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { promptStream, requestJson } from '../helpers/nats.js';

const FIRST_TEXT = 'Listing once the release file is there.';
const FINAL_TEXT = 'Found notes.md and release.';
const SECOND_TEXT = 'Still here, same session, after the restart.';
const script = {
  conversations: [
    {
      match: 'durable',
      steps: [
        { text: FIRST_TEXT, toolUse: [{ name: 'Bash', input: { command: 'while [ ! -e release ]; do sleep 0.1; done; ls' } }] },
        { text: FINAL_TEXT },
        { text: SECOND_TEXT },
      ],
    },
  ],
};
const OWNER = 'dur';
const ctl = (verb: string) => `agents.${verb}.cc-headless.${OWNER}.ctl`;

describe('ccflow nats: a session survives its front end', () => {
  let h: Harness;
  let nats: NatsServer;
  let nc: NatsConnection;
  let client: CcflowClient;
  let cwd: string;
  const children: ChildProcess[] = [];

  before(async () => {
    h = await startHarness({ script });
    nats = await startNatsServer();
    const live = new NatsLiveSink({ connection: { server: nats.url } });
    await live.ready();
    await h.startWorker({ live });
    client = new CcflowClient(h.client, h.taskQueue);
    nc = await connect({ servers: nats.url });
    cwd = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-cwd-'));
    await writeFile(path.join(cwd, 'notes.md'), '# notes\n');
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await nc?.close();
    await h?.close();
    await nats?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  /** `ccflow nats` as its own process; resolves once its controller listens. */
  async function startFrontend(): Promise<{ child: ChildProcess; banner: string }> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src/cli/main.ts'), 'nats', '--server', nats.url, '--owner', OWNER, '--name', 'ctl'],
      {
        cwd: PACKAGE_ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: h.server.address, CCFLOW_TASK_QUEUE: h.taskQueue },
      },
    );
    children.push(child);
    const banner = await new Promise<string>((resolve, reject) => {
      let err = '';
      child.stderr?.on('data', (d: Buffer) => {
        err += d.toString('utf8');
        const line = /controller listening on .*/.exec(err)?.[0];
        if (line) resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`ccflow nats exited with ${code}: ${err.slice(-2000)}`)));
    });
    return { child, banner };
  }

  test('kill the front end mid-prompt, start it again: the session is listed, promptable, and its task kept running', async () => {
    const first = await startFrontend();
    assert.match(first.banner, /\(0 open session\(s\) registered\)/);
    const spawned = await requestJson(nc, ctl('spawn'), JSON.stringify({ cwd, session_id: 'durable-1', allowed_tools: ['Bash'] }));
    assert.equal(spawned.error, undefined, JSON.stringify(spawned.error));
    const subject = 'agents.prompt.cc-headless.dur.durable-1';
    const taskId = 'nats.cc-headless.dur.ctl.durable-1';

    // Prompt, and kill the front end as soon as the agent's text starts streaming.
    const inbox = createInbox();
    const seen: string[] = [];
    const streaming = new Promise<void>((resolve) => {
      nc.subscribe(inbox, {
        callback: (_err, m) => {
          if (m.data.length === 0) return;
          const c = JSON.parse(m.string()) as { type: string };
          seen.push(c.type);
          if (c.type === 'response') resolve();
        },
      });
    });
    await nc.flush();
    nc.publish(subject, 'durable: list the files', { reply: inbox });
    await streaming;
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const before = await h.client.workflow.getHandle(taskId).describe();
    const statusBefore = await client.taskStatus(taskId);
    assert.equal(statusBefore.turns[0]?.result, undefined, 'the turn was still running when the front end died');

    // The turn goes on in the task without any front end: let its tool finish.
    const sandbox = await h.provider.connect(statusBefore.sandboxId ?? '');
    await sandbox.writeFile(`${SANDBOX_WORKDIR}/release`, '');

    const second = await startFrontend();
    assert.match(second.banner, /\(1 open session\(s\) registered\)/);
    const listed = (await requestJson(nc, ctl('list'), '')).json as { sessions: { session_id: string }[] };
    assert.deepEqual(
      listed.sessions.map((s) => s.session_id),
      ['durable-1'],
    );
    for (let s = await client.taskStatus(taskId); !s.turns[0]?.result; s = await client.taskStatus(taskId)) await sleep(200);

    const reply = await promptStream(nc, subject, 'and now?');
    assert.equal(reply.error, undefined, JSON.stringify(reply.error));
    assert.equal(
      reply.chunks
        .filter((c) => c.type === 'response')
        .map((c) => c.data)
        .join(''),
      SECOND_TEXT,
    );

    // Not restarted: the same run, sandbox and Claude session; one agent run per prompt.
    const after = await h.client.workflow.getHandle(taskId).describe();
    assert.equal(after.runId, before.runId);
    assert.equal(after.status.name, 'RUNNING');
    const status = await client.taskStatus(taskId);
    assert.equal(status.sandboxId, statusBefore.sandboxId);
    assert.equal(status.runs.length, 2);
    assert.deepEqual(
      status.turns.map((t) => t.result),
      [{ text: FINAL_TEXT }, { text: SECOND_TEXT }],
    );
    assert.equal(status.turns[1]?.sessionId, status.turns[0]?.sessionId);
    assert.ok(seen.includes('status') && seen.includes('response'));

    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
  });
});
