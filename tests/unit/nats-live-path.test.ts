/**
 * The streaming path from a worker to a NATS caller, piece by piece: stream-json lines recorded
 * from the real CLI with `--include-partial-messages` become live events (claude/live.ts), the
 * worker's sink publishes them (worker/live-nats.ts) on a real nats-server, and the front end's
 * relay (frontends/nats/live-relay.ts) hands one turn's events on, in order, once each, all of
 * them by the time a flush round trip returns.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { liveBodies } from '../../src/claude/live.js';
import { StreamJsonParser } from '../../src/claude/stream.js';
import type { TurnEvent } from '../../src/frontends/nats/backend.js';
import { LiveRelay } from '../../src/frontends/nats/live-relay.js';
import { LIVE_EVENTS_VERSION, capToolInput, liveSubjectToken, type LiveEvent } from '../../src/schemas/live-events.js';
import { startNatsServer, type NatsServer } from '../../src/testing/nats-server.js';
import { NatsLiveSink } from '../../src/worker/live-nats.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function fixtureEvents() {
  const bytes = await readFile(path.join(here, '..', 'fixtures', 'stream', 'partial-messages.jsonl'));
  const parser = new StreamJsonParser();
  return [...parser.push(bytes), ...parser.end()];
}

describe('live events from stream-json', () => {
  it('yields token deltas, tool calls and results in stream order, and no complete text twice', async () => {
    const bodies = (await fixtureEvents()).flatMap(liveBodies).map((b) => b.body);
    const texts = bodies.filter((b) => b.type === 'text').map((b) => (b.type === 'text' ? b.text : ''));
    assert.deepEqual(texts, [
      'Let me look at the files',
      ' in this directory first',
      '.',
      'There is one file here, ',
      'named a.txt, and it is s',
      'mall.',
    ]);
    const kinds = bodies.map((b) => b.type);
    assert.deepEqual(kinds, ['text', 'text', 'text', 'tool_use', 'tool_result', 'text', 'text', 'text']);
    assert.deepEqual(bodies[3], {
      type: 'tool_use',
      id: 'toolu_be0f96a499432c59f64b6f93',
      name: 'Bash',
      input: { command: 'ls', description: 'list' },
    });
    assert.deepEqual(bodies[4], { type: 'tool_result', toolUseId: 'toolu_be0f96a499432c59f64b6f93', output: 'a.txt', isError: false });
  });

  it('gives each event an id that stays the same when the lines are read again', async () => {
    const first = (await fixtureEvents()).flatMap(liveBodies).map((b) => b.eid);
    const again = (await fixtureEvents()).flatMap(liveBodies).map((b) => b.eid);
    assert.deepEqual(first, again);
    assert.equal(new Set(first).size, first.length);
  });

  it('caps a huge tool input to the preview object relays know', () => {
    const capped = capToolInput({ content: 'x'.repeat(20_000) }) as { _truncated: boolean; _preview: string };
    assert.equal(capped._truncated, true);
    assert.ok(capped._preview.endsWith('…[truncated]'));
    assert.deepEqual(capToolInput({ command: 'ls' }), { command: 'ls' });
  });

  it('makes any task id one subject token', () => {
    assert.equal(liveSubjectToken('greet-1'), 'greet-1');
    const odd = liveSubjectToken('pipeline.review step*');
    assert.match(odd, /^=[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(odd.slice(1), 'base64url').toString(), 'pipeline.review step*');
  });
});

describe('live events over NATS', () => {
  let server: NatsServer;
  let frontNc: NatsConnection;
  let sink: NatsLiveSink;

  before(async () => {
    server = await startNatsServer();
    frontNc = await connect({ servers: server.url });
    sink = new NatsLiveSink({ connection: { server: server.url } });
    await sink.ready();
  });

  after(async () => {
    await sink?.close();
    await frontNc?.close();
    await server?.stop();
  });

  const publishFixture = async (taskId: string, key: string) => {
    for (const { eid, body } of (await fixtureEvents()).flatMap(liveBodies)) {
      sink.publish({ v: LIVE_EVENTS_VERSION, taskId, key, eid, ...body } as LiveEvent);
    }
  };

  it("relays one turn's events in order, once each, all present after the flush barrier", async () => {
    const taskId = 'nats.tester.sess-1';
    const got: TurnEvent[] = [];
    const tap = await new LiveRelay(frontNc).tap(taskId, 'turn-a', (e) => got.push(e));
    await publishFixture(taskId, 'turn-b'); // another turn of the same task: not ours
    await publishFixture(taskId, 'turn-a');
    await publishFixture(taskId, 'turn-a'); // a retried attempt re-reading the same lines
    await publishFixture('other-task', 'turn-a');
    // The worker flushes before it reports the turn's end; the front end then drains.
    await sink.flush();
    await tap.drain();
    tap.close();
    assert.deepEqual(
      got.map((e) => e.type),
      ['text', 'text', 'text', 'tool_use', 'tool_result', 'text', 'text', 'text'],
    );
    assert.equal(
      got.map((e) => (e.type === 'text' ? e.text : '')).join(''),
      'Let me look at the files in this directory first.There is one file here, named a.txt, and it is small.',
    );
    assert.ok(tap.textSeen);
  });

  it('publishes nothing and never blocks when the broker is unreachable', async () => {
    const down = new NatsLiveSink({
      connection: { server: 'nats://127.0.0.1:1' },
      connectOverrides: { maxReconnectAttempts: 0, waitOnFirstConnect: false },
    });
    await down.ready();
    down.publish({ v: LIVE_EVENTS_VERSION, taskId: 't', key: 'k', eid: 'e', type: 'text', text: 'x' });
    await down.flush();
    await down.close();
  });
});
