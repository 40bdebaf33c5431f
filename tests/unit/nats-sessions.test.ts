/**
 * Session behaviour of the NATS front end on a real nats-server with a fake backend: §7
 * permission queries (answered on NATS, late, or elsewhere), acks on arrival and keep-alive acks,
 * the FIFO and its 408, failures as error frames, lifetimes, restarts that find the sessions
 * again, controller naming and max_payload.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AgentError, NatsHost, type NatsHostOptions } from '../../src/frontends/nats/index.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { FakeBackend, promptStream, requestJson } from '../helpers/nats.js';

/** A promise and its resolver, for turns a test releases by hand. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe('NATS front end: sessions', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let cwd: string;
  const hosts: { host: NatsHost; nc: NatsConnection }[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, name: 'caller' });
    cwd = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-cwd-'));
  });

  after(async () => {
    for (const h of hosts) {
      await h.host.stop();
      await h.nc.close();
    }
    await nc?.close();
    await server?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  async function startHost(owner: string, backend: FakeBackend, extra: Partial<NatsHostOptions> = {}): Promise<NatsHost> {
    const hostNc = await connect({ servers: server.url });
    const host = await NatsHost.start({ nc: hostNc, backend, owner, ...extra });
    hosts.push({ host, nc: hostNc });
    return host;
  }

  async function spawn(owner: string, body: Record<string, unknown> = {}, name = 'control') {
    const r = await requestJson(nc, `agents.spawn.cc-headless.${owner}.${name}`, JSON.stringify({ cwd, ...body }));
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    return r.json as { session_id: string; subject: string; status_subject: string; instance_id: string };
  }

  it('asks permission with a §7 query after the tool_use chunk and applies a NATS reply', async () => {
    const backend = new FakeBackend();
    backend.turn = async (t) => {
      t.emit({ type: 'tool_use', id: 'toolu_push', name: 'Bash', input: { command: 'git push' } });
      const d = await t.ask('toolu_push', 'Bash', { command: 'git push' });
      t.emit({ type: 'tool_result', toolUseId: 'toolu_push', content: d.allow ? 'pushed' : d.reason, isError: !d.allow });
      return { turnCostUsd: 0.01 };
    };
    await startHost('perm', backend);
    const d = await spawn('perm', { permission_mode: 'default' });
    for (const [answer, expected] of [
      ['y', { allow: true }],
      ['  Not on Fridays ', { allow: false, reason: 'Not on Fridays' }],
    ] as const) {
      const reply = await promptStream(nc, d.subject, 'push it', {
        onChunk: (c) => {
          if (c.type === 'query') nc.publish((c.data as { reply_subject: string }).reply_subject, answer);
        },
      });
      const types = reply.chunks.map((c) => (c.type === 'status' ? String(c.data).split(':')[0] : c.type));
      assert.deepEqual(types, ['ack', 'tool_use', 'query', 'tool_result', 'cost']);
      const query = reply.chunks[2]!.data as { id: string; reply_subject: string; prompt: string };
      assert.equal(query.id, 'toolu_push');
      assert.match(query.reply_subject, /^_INBOX\./);
      assert.equal(
        query.prompt,
        'Claude wants to use tool: Bash\n{\n  "command": "git push"\n}\nReply \'yes\' to allow or \'no\' to deny.',
      );
      assert.deepEqual(backend.decisions.at(-1), { id: 'toolu_push', decision: expected, by: 'nats' });
    }
  });

  it('keeps a query open after its caller gave up: a late reply still answers it', async () => {
    const backend = new FakeBackend();
    const finished = gate();
    backend.turn = async (t) => {
      t.emit({ type: 'tool_use', id: 'toolu_late', name: 'Bash', input: { command: 'deploy' } });
      await t.ask('toolu_late', 'Bash', { command: 'deploy' });
      finished.open();
      return { turnCostUsd: 0 };
    };
    await startHost('late', backend);
    const d = await spawn('late', { permission_mode: 'default' });
    // The caller reads until the query, then stops listening, as a timed-out request would.
    let replySubject = '';
    for await (const m of await nc.requestMany(d.subject, 'deploy', { strategy: 'sentinel', maxWait: 30_000 })) {
      const c = JSON.parse(m.string()) as { type: string; data: { reply_subject?: string } };
      if (c.type === 'query') {
        replySubject = c.data.reply_subject ?? '';
        break;
      }
    }
    assert.ok(replySubject);
    assert.ok(backend.pending.has('toolu_late'), 'the request waits after the caller left');
    nc.publish(replySubject, 'approve');
    await finished.wait;
    assert.deepEqual(backend.decisions, [{ id: 'toolu_late', decision: { allow: true }, by: 'nats' }]);
  });

  it('lets a request answered elsewhere finish, and ignores a NATS reply that comes after', async () => {
    const backend = new FakeBackend();
    backend.turn = async (t) => {
      const d = await t.ask('toolu_else', 'Write', { path: 'x' });
      t.emit({ type: 'text', text: d.allow ? 'written' : 'skipped' });
      return { turnCostUsd: 0 };
    };
    await startHost('else', backend);
    const d = await spawn('else', { permission_mode: 'default' });
    let inbox = '';
    const reply = await promptStream(nc, d.subject, 'write x', {
      onChunk: (c) => {
        if (c.type !== 'query') return;
        inbox = (c.data as { reply_subject: string }).reply_subject;
        backend.answerElsewhere('toolu_else', { allow: false, reason: 'denied in the CLI' });
      },
    });
    assert.deepEqual(
      reply.chunks.filter((c) => c.type === 'response'),
      [{ type: 'response', data: 'skipped' }],
    );
    // The inbox was closed when the request settled: a reply now reaches nobody.
    await assert.rejects(nc.request(inbox, 'yes', { timeout: 5_000 }), /no responders/i);
    assert.deepEqual(backend.decisions, [{ id: 'toolu_else', decision: { allow: false, reason: 'denied in the CLI' }, by: 'elsewhere' }]);
  });

  it('acks a queued prompt on arrival, keeps it alive, runs prompts one at a time in order', async () => {
    const backend = new FakeBackend();
    const first = gate();
    const order: string[] = [];
    backend.turn = async (t) => {
      order.push(`start ${t.input.prompt}`);
      if (t.input.prompt === 'one') await first.wait;
      t.emit({ type: 'text', text: t.input.prompt });
      order.push(`end ${t.input.prompt}`);
      return { turnCostUsd: 0 };
    };
    await startHost('fifo', backend, { timing: { keepAliveAckMs: 50 } });
    const d = await spawn('fifo');
    let acksWhileQueued = 0;
    const one = promptStream(nc, d.subject, 'one');
    const secondAcked = gate();
    const two = promptStream(nc, d.subject, 'two', {
      onChunk: (c) => {
        if (c.type === 'status' && c.data === 'ack' && ++acksWhileQueued === 3) secondAcked.open();
      },
    });
    await secondAcked.wait; // three acks for "two" while "one" still holds the session
    assert.deepEqual(order, ['start one']);
    first.open();
    const [r1, r2] = await Promise.all([one, two]);
    assert.deepEqual(order, ['start one', 'end one', 'start two', 'end two']);
    assert.equal(r1.chunks.find((c) => c.type === 'response')?.data, 'one');
    assert.equal(r2.chunks.find((c) => c.type === 'response')?.data, 'two');
    assert.ok(r2.chunks.slice(0, 3).every((c) => c.type === 'status' && c.data === 'ack'));
  });

  it('answers 408 to a prompt left too long in the queue', async () => {
    const backend = new FakeBackend();
    const first = gate();
    backend.turn = async (t) => {
      if (t.input.prompt === 'slow') await first.wait;
      return { turnCostUsd: 0 };
    };
    await startHost('evict', backend, { timing: { keepAliveAckMs: 20, queueTimeoutMs: 100 } });
    const d = await spawn('evict');
    const slow = promptStream(nc, d.subject, 'slow');
    const queued = await promptStream(nc, d.subject, 'queued');
    assert.deepEqual(queued.error, { code: 408, description: 'request timed out in queue' });
    assert.equal(queued.terminators, 1);
    first.open();
    assert.equal((await slow).error, undefined);
    assert.ok(!backend.prompts.some((p) => p.input.prompt === 'queued'));
  });

  it('ends a failed turn with the 500 error frame and the terminator', async () => {
    const backend = new FakeBackend();
    backend.turn = async (t) => {
      t.emit({ type: 'text', text: 'trying' });
      throw new AgentError(500, 'MaxTurnsExceeded: the agent used up max_turns (2)\nsecond line');
    };
    await startHost('fail', backend);
    const d = await spawn('fail');
    const reply = await promptStream(nc, d.subject, 'go', { barrier: d.status_subject });
    assert.deepEqual(reply.chunks, [
      { type: 'status', data: 'ack' },
      { type: 'response', data: 'trying' },
    ]);
    assert.deepEqual(reply.error, { code: 500, description: 'MaxTurnsExceeded: the agent used up max_turns (2) | second line' });
    assert.equal(reply.terminators, 1);
    assert.equal(reply.extra, 0);
  });

  it('stopping a session ends its running and queued prompts with 503', async () => {
    const backend = new FakeBackend();
    const never = gate();
    backend.turn = async () => {
      await never.wait;
      return { turnCostUsd: 0 };
    };
    await startHost('stop', backend);
    const d = await spawn('stop', { session_id: 'to-stop' });
    const running = promptStream(nc, d.subject, 'a');
    const queued = promptStream(nc, d.subject, 'b');
    await requestJson(nc, d.status_subject, ''); // both prompts have arrived
    assert.deepEqual((await requestJson(nc, 'agents.stop.cc-headless.stop.control', '{"session_id":"to-stop"}')).json, {
      ok: true,
      session_id: 'to-stop',
    });
    for (const r of await Promise.all([running, queued])) {
      assert.deepEqual(r.error, { code: 503, description: 'session stopped' });
      assert.equal(r.terminators, 1);
    }
    never.open();
  });

  it('expires a session after max_lifetime_s: closed in the backend, gone from discovery', async () => {
    const backend = new FakeBackend();
    await startHost('life', backend);
    const d = await spawn('life', { session_id: 'short', max_lifetime_s: 1 });
    while (backend.sessions.has('short')) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(backend.stopped, ['short']);
    await assert.rejects(nc.request(d.subject, 'still there?', { timeout: 5_000 }), /no responders/i);
  });

  it('finds the backend sessions again after a restart, under the same instance subjects', async () => {
    const backend = new FakeBackend();
    const first = await startHost('restart', backend, { name: 'ctl' });
    const d = await spawn('restart', { session_id: 'survivor' }, 'ctl');
    await first.stop();
    await assert.rejects(nc.request(d.subject, 'anyone?', { timeout: 5_000 }), /no responders/i);
    await startHost('restart', backend, { name: 'ctl' });
    const reply = await promptStream(nc, d.subject, 'still here?');
    assert.equal(reply.error, undefined);
    assert.equal(reply.chunks.find((c) => c.type === 'response')?.data, 'You said: ');
    const list = (await requestJson(nc, 'agents.list.cc-headless.restart.ctl', '')).json as { sessions: { session_id: string }[] };
    assert.deepEqual(
      list.sessions.map((s) => s.session_id),
      ['survivor'],
    );
  });

  it('names a second default controller control-2, and refuses a taken explicit name', async () => {
    const one = await startHost('names', new FakeBackend());
    const two = await startHost('names', new FakeBackend());
    assert.equal(one.controller.identity.name, 'control');
    assert.equal(two.controller.identity.name, 'control-2');
    const hostNc = await connect({ servers: server.url });
    await assert.rejects(NatsHost.start({ nc: hostNc, backend: new FakeBackend(), owner: 'names', name: 'control' }), /already answers/);
    await hostNc.close();
    await assert.rejects(NatsHost.start({ nc, backend: new FakeBackend(), owner: 'Not A Token' }), /must match/);
  });

  it("advertises the broker's max_payload", async () => {
    const small = await startNatsServer({ config: 'max_payload: 65536' });
    const hostNc = await connect({ servers: small.url });
    const host = await NatsHost.start({ nc: hostNc, backend: new FakeBackend(), owner: 'mp' });
    try {
      const info = JSON.parse((await hostNc.request('$SRV.INFO.agents', '', { timeout: 5_000 })).string()) as {
        endpoints: { name: string; metadata?: Record<string, string> }[];
      };
      assert.equal(info.endpoints.find((e) => e.name === 'prompt')?.metadata?.max_payload, '64KB');
    } finally {
      await host.stop();
      await hostNc.close();
      await small.stop();
    }
  });

  it('does not answer a prompt published without a reply subject, and keeps working', async () => {
    const backend = new FakeBackend();
    await startHost('noreply', backend);
    const d = await spawn('noreply');
    nc.publish(d.subject, 'fire and forget');
    const reply = await promptStream(nc, d.subject, 'then a real one');
    assert.equal(reply.error, undefined);
    assert.deepEqual(
      backend.prompts.map((p) => p.input.prompt),
      ['fire and forget', 'then a real one'],
    );
  });
});
