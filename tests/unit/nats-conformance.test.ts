/**
 * Protocol conformance of the NATS front end against a real nats-server, driven the way seed
 * 002's callers drive its host: a plain `@nats-io/transport-node` connection, and
 * `@nats-io/services`' own client for discovery. Sessions come from a fake backend, so these
 * tests are about the wire; tests/e2e/nats-*.test.ts run the same front end on ccflow tasks.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceInfo } from '@nats-io/services';
import { NatsHost } from '../../src/frontends/nats/index.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { FakeBackend, promptStream, requestJson } from '../helpers/nats.js';

const OWNER = 'tester';
const ctl = (verb: string, name = 'control') => `agents.${verb}.cc-headless.${OWNER}.${name}`;

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('NATS front end: protocol conformance', () => {
  let server: NatsServer;
  let hostNc: NatsConnection;
  let nc: NatsConnection;
  let backend: FakeBackend;
  let host: NatsHost;
  let cwd: string;

  before(async () => {
    server = await startNatsServer();
    cwd = await mkdtemp(path.join(os.tmpdir(), 'ccflow-nats-cwd-'));
    hostNc = await connect({ servers: server.url, name: 'ccflow-nats-host' });
    nc = await connect({ servers: server.url, name: 'caller' });
    backend = new FakeBackend();
    host = await NatsHost.start({ nc: hostNc, backend, owner: OWNER, timing: { keepAliveAckMs: 60_000 } });
  });

  after(async () => {
    await host?.stop();
    await hostNc?.close();
    await nc?.close();
    await server?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  const spawn = async (body: Record<string, unknown>) => {
    const r = await requestJson(nc, ctl('spawn'), JSON.stringify({ cwd, ...body }));
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    return r.json as Record<string, unknown> & { session_id: string; subject: string; instance_id: string };
  };

  it('registers the controller for discovery through $SRV.INFO with seed 002 metadata', async () => {
    const infos = await all(await new Svcm(nc).client({ strategy: 'stall', maxWait: 2_000, stall: 300 }).info('agents'));
    const controller = infos.find((i) => i.metadata?.role === 'controller');
    assert.ok(controller, `no controller in ${JSON.stringify(infos)}`);
    assert.equal(controller.name, 'agents');
    assert.equal(controller.version, '0.4.0');
    assert.deepEqual(controller.metadata, { agent: 'cc-headless', owner: OWNER, protocol_version: '0.3', role: 'controller' });
    const eps = Object.fromEntries(controller.endpoints.map((e) => [e.name, e]));
    assert.deepEqual(Object.keys(eps), ['prompt', 'status', 'spawn', 'stop', 'list']);
    assert.equal(eps.prompt?.subject, ctl('prompt'));
    assert.equal(eps.prompt?.queue_group, 'agents');
    assert.deepEqual(eps.prompt?.metadata, { max_payload: '1MB', attachments_ok: 'false' });
    assert.equal(eps.status?.queue_group, 'agents');
    assert.equal(eps.status?.metadata, undefined);
    for (const v of ['spawn', 'stop', 'list']) {
      assert.equal(eps[v]?.subject, ctl(v));
      assert.equal(eps[v]?.queue_group, 'q');
    }
    const pings = await all(await new Svcm(nc).client({ strategy: 'stall', maxWait: 2_000, stall: 300 }).ping('agents', controller.id));
    assert.deepEqual(
      pings.map((p) => p.id),
      [controller.id],
    );
  });

  it("answers the controller's prompt with ack, help text and the terminator, and its status with a beat", async () => {
    const reply = await promptStream(nc, ctl('prompt'), 'help', { barrier: ctl('status') });
    assert.deepEqual(reply.chunks[0], { type: 'status', data: 'ack' });
    assert.equal(reply.chunks[1]?.type, 'response');
    assert.match(String(reply.chunks[1]?.data), /agents\.spawn\.cc-headless\.tester\.control/);
    assert.equal(reply.chunks.length, 2);
    assert.equal(reply.extra, 0);
    const status = await requestJson(nc, ctl('status'), '');
    const beat = status.json as Record<string, unknown>;
    assert.deepEqual(Object.keys(beat), ['agent', 'owner', 'instance_id', 'ts', 'interval_s']);
    assert.equal(beat.interval_s, 5);
    assert.equal(beat.instance_id, host.controller.service.id);
  });

  it('spawns a session that is discoverable by its instance id the moment the reply arrives', async () => {
    const d = await spawn({
      session_id: 'conf-1',
      model: 'claude-test',
      allowed_tools: ['Read', 'Edit'],
      permission_mode: 'acceptEdits',
      max_lifetime_s: 900,
    });
    assert.deepEqual(Object.keys(d), [
      'session_id',
      'subject',
      'heartbeat_subject',
      'status_subject',
      'cwd',
      'model',
      'allowed_tools',
      'permission_mode',
      'max_turns',
      'max_lifetime_s',
      'created_at',
      'instance_id',
      'total_cost_usd',
      'turn_count',
    ]);
    assert.equal(d.subject, 'agents.prompt.cc-headless.tester.conf-1');
    assert.equal(d.cwd, cwd);
    assert.equal(d.max_turns, 50);
    const infos: ServiceInfo[] = await all(
      await new Svcm(nc).client({ strategy: 'count', maxWait: 2_000, maxMessages: 1 }).info('agents', d.instance_id),
    );
    assert.equal(infos.length, 1);
    const info = infos[0]!;
    assert.deepEqual(info.metadata, {
      agent: 'cc-headless',
      owner: OWNER,
      protocol_version: '0.3',
      role: 'session',
      cwd,
      model: 'claude-test',
      permission_mode: 'acceptEdits',
      allowed_tools: 'Read,Edit',
      max_turns: '50',
      max_lifetime_s: '900',
      ccflow_task: 'nats-conf-1',
      session: 'conf-1',
    });
    assert.deepEqual(
      info.endpoints.map((e) => [e.name, e.subject, e.queue_group, e.metadata]),
      [
        ['prompt', 'agents.prompt.cc-headless.tester.conf-1', 'agents', { max_payload: '1MB', attachments_ok: 'true' }],
        ['status', 'agents.status.cc-headless.tester.conf-1', 'agents', undefined],
      ],
    );
    assert.equal(backend.sessions.get('conf-1')?.permissionMode, 'acceptEdits');
  });

  it('streams a plain-text prompt: ack first, chunks in order, cost, then exactly one terminator', async () => {
    const d = await spawn({});
    assert.match(d.session_id, /^sess-[0-9a-f]{8}$/);
    const reply = await promptStream(nc, d.subject, 'list the files', { barrier: String(d.status_subject) });
    assert.deepEqual(reply.chunks, [
      { type: 'status', data: 'ack' },
      { type: 'response', data: 'You said: ' },
      { type: 'response', data: 'list the files' },
      { type: 'response', data: '.' },
      { type: 'status', data: 'tool_use:{"id":"toolu_fake1","name":"Bash","input":{"command":"ls"}}' },
      { type: 'status', data: 'tool_result:{"tool_use_id":"toolu_fake1","output":"a.txt","is_error":false}' },
      { type: 'status', data: 'cost:{"turn_cost_usd":0.0125,"total_cost_usd":0.0125}' },
    ]);
    assert.equal(reply.error, undefined);
    assert.equal(reply.terminators, 1);
    assert.equal(reply.extra, 0);
    // A second turn adds to the session's total.
    const again = await promptStream(nc, d.subject, 'again');
    assert.deepEqual(again.chunks.at(-1), { type: 'status', data: 'cost:{"turn_cost_usd":0.0125,"total_cost_usd":0.025}' });
  });

  it('reads a JSON envelope with attachments, and ends with the SDK-style sentinel request too', async () => {
    const d = await spawn({});
    const payload = JSON.stringify({
      prompt: 'read the attachment',
      attachments: [{ filename: 'notes.md', content: Buffer.from('# hi').toString('base64') }],
    });
    const seen: string[] = [];
    for await (const m of await nc.requestMany(d.subject, payload, { strategy: 'sentinel', maxWait: 30_000 })) {
      if (m.data.length === 0) break;
      seen.push((JSON.parse(m.string()) as { type: string }).type);
    }
    assert.equal(seen[0], 'status');
    assert.ok(seen.includes('response'));
    const got = backend.prompts.at(-1)!;
    assert.equal(got.input.prompt, 'read the attachment');
    assert.equal(got.input.attachments[0]?.filename, 'notes.md');
    assert.equal(got.input.attachments[0]?.content.toString(), '# hi');
  });

  it('answers bad prompts with a 400 error frame and the terminator', async () => {
    const d = await spawn({});
    for (const [payload, description] of [
      ['{"prompt": ', /^invalid JSON envelope: /],
      ['{"prompt": ""}', /^envelope\.prompt must be a non-empty string$/],
      ['   ', /^whitespace-only payload$/],
      ['', /^empty payload$/],
    ] as const) {
      const reply = await promptStream(nc, d.subject, payload, { barrier: String(d.status_subject) });
      assert.equal(reply.error?.code, 400, payload);
      assert.match(reply.error?.description ?? '', description);
      assert.deepEqual(reply.chunks, []);
      assert.equal(reply.terminators, 1);
      assert.equal(reply.extra, 0);
    }
    assert.ok(!backend.prompts.some((p) => p.input.prompt === ''));
  });

  it('refuses bad spawns with 400 and duplicates with 409', async () => {
    const bad = async (body: string) => (await requestJson(nc, ctl('spawn'), body)).error;
    assert.deepEqual(await bad('{not json'), { code: 400, description: (await bad('{not json'))?.description });
    assert.match((await bad('{not json'))?.description ?? '', /^invalid JSON: /);
    assert.deepEqual(await bad(''), { code: 400, description: 'cwd is required' });
    assert.deepEqual(await bad(JSON.stringify({ cwd, permission_mode: 'yolo' })), {
      code: 400,
      description: 'invalid permission_mode: yolo (must be one of default, acceptEdits, bypassPermissions, plan, dontAsk, auto)',
    });
    assert.deepEqual(await bad(JSON.stringify({ cwd: path.join(cwd, 'missing') })), {
      code: 400,
      description: `cwd not found or not a directory: ${path.join(cwd, 'missing')}`,
    });
    await spawn({ session_id: 'dup-1' });
    assert.deepEqual(await bad(JSON.stringify({ cwd, session_id: 'dup-1' })), { code: 409, description: 'session already exists' });
  });

  it('lists sessions, stops one, and answers 404 for an unknown one', async () => {
    const d = await spawn({ session_id: 'list-1', max_lifetime_s: 0 });
    const list = (await requestJson(nc, ctl('list'), '')).json as { sessions: Record<string, unknown>[] };
    const entry = list.sessions.find((s) => s.session_id === 'list-1');
    assert.ok(entry);
    assert.deepEqual(Object.keys(entry), [
      'session_id',
      'subject',
      'heartbeat_subject',
      'status_subject',
      'cwd',
      'model',
      'allowed_tools',
      'permission_mode',
      'max_turns',
      'max_lifetime_s',
      'remaining_lifetime_s',
      'active_request',
      'queued_requests',
      'created_at',
      'last_activity',
      'total_cost_usd',
      'turn_count',
    ]);
    assert.equal(entry.remaining_lifetime_s, 0);

    assert.deepEqual((await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: 'list-1' }))).json, {
      ok: true,
      session_id: 'list-1',
    });
    assert.deepEqual(backend.stopped.at(-1), 'list-1');
    const after = (await requestJson(nc, ctl('list'), '')).json as { sessions: { session_id: string }[] };
    assert.ok(!after.sessions.some((s) => s.session_id === 'list-1'));
    await assert.rejects(nc.request(d.subject, 'hello?', { timeout: 5_000 }), /no responders/i);
    const infos = await all(await new Svcm(nc).client({ strategy: 'stall', maxWait: 2_000, stall: 300 }).info('agents', d.instance_id));
    assert.equal(infos.length, 0);

    assert.deepEqual((await requestJson(nc, ctl('stop'), JSON.stringify({ session_id: 'nope' }))).error, {
      code: 404,
      description: 'no such session: nope',
    });
    assert.deepEqual((await requestJson(nc, ctl('stop'), '')).error, { code: 400, description: 'session_id is required' });
  });

  it('publishes heartbeats for the controller and each session on agents.hb', async () => {
    const d = await spawn({ session_id: 'beat-1' });
    const beats = new Map<string, Record<string, unknown>>();
    const sub = nc.subscribe('agents.hb.*.*.*');
    for await (const m of sub) {
      const beat = JSON.parse(m.string()) as Record<string, unknown>;
      beats.set(m.subject, beat);
      if (beats.has(ctl('hb')) && beats.has(String(d.heartbeat_subject))) break;
    }
    const s = beats.get(String(d.heartbeat_subject))!;
    assert.deepEqual(Object.keys(s), ['agent', 'owner', 'instance_id', 'ts', 'interval_s', 'session']);
    assert.equal(s.instance_id, d.instance_id);
    assert.equal(s.session, 'beat-1');
    assert.equal(beats.get(ctl('hb'))?.instance_id, host.controller.service.id);
    const status = (await requestJson(nc, String(d.status_subject), '')).json as Record<string, unknown>;
    assert.equal(status.instance_id, d.instance_id);
  });
});
