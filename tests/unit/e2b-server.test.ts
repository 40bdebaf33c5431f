/**
 * The E2B test double behaves like the real service where it matters to ccflow, seen through
 * the real e2b SDK: these are the pitfalls the provider is built to survive.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AuthenticationError,
  CommandExitError,
  NotFoundError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  TimeoutError,
  type ConnectionOpts,
} from 'e2b';

import { startDouble, type DoubleFixture } from '../e2b-server/fixtures.js';

describe('E2B test double', () => {
  let d: DoubleFixture;
  let conn: ConnectionOpts;
  before(async () => {
    d = await startDouble({ commandDeadlineMs: 800, exitCodeRetentionMs: 600 });
    conn = { apiKey: d.server.apiKey, apiUrl: d.server.apiUrl, sandboxUrl: d.server.sandboxUrl };
  });
  after(async () => {
    await d?.close();
  });

  test('a command started with the SDK default deadline is killed when it passes; timeoutMs: 0 is not', async () => {
    const sbx = await Sandbox.create('ccflow', conn);
    const withDefault = await sbx.commands.run('sleep 5', { background: true });
    const withZero = await sbx.commands.run('sleep 5', { background: true, timeoutMs: 0 });
    await withZero.disconnect();
    // The kill does not wait for the client: it happens connected or not.
    await assert.rejects(withDefault.wait(), TimeoutError);
    await sleep(200);
    const pids = (await sbx.commands.list()).map((p) => p.pid);
    assert.ok(!pids.includes(withDefault.pid), 'the command with a deadline is gone');
    assert.ok(pids.includes(withZero.pid), 'the command started with timeoutMs: 0 still runs');
    assert.equal(d.server.stats().deadlineKills, 1);
    await sbx.kill();
  });

  test('without an override the deadline is the one the client sent', async () => {
    d.server.setCommandDeadlineMs(undefined);
    try {
      const sbx = await Sandbox.create('ccflow', conn);
      const started = Date.now();
      const h = await sbx.commands.run('sleep 5', { background: true, timeoutMs: 700 });
      await assert.rejects(h.wait());
      const took = Date.now() - started;
      assert.ok(took >= 600 && took < 3_000, `killed after ${took} ms`);
      await sleep(300); // the client gives up at its deadline; the kill lands a moment later
      assert.ok(!(await sbx.commands.list()).some((p) => p.pid === h.pid));
      await sbx.kill();
    } finally {
      d.server.setCommandDeadlineMs(800);
    }
  });

  test('output produced while no client is subscribed is dropped', async () => {
    const sbx = await Sandbox.create('ccflow', conn);
    const seen: string[] = [];
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const h = await sbx.commands.run('echo one; sleep 0.8; echo two; sleep 1.2; echo three', {
      background: true,
      timeoutMs: 0,
      onStdout: (s) => {
        seen.push(s);
        first();
      },
    });
    await gotFirst;
    await h.disconnect();
    await sleep(1_200); // "two" is printed now, to nobody
    const again = await sbx.commands.connect(h.pid, { timeoutMs: 0, onStdout: (s) => void seen.push(s) });
    const result = await again.wait();
    assert.equal(result.exitCode, 0);
    assert.equal(seen.join(''), 'one\nthree\n');
    assert.ok(d.server.stats().droppedOutputBytes >= 'two\n'.length);
    await sbx.kill();
  });

  test('an exit code is kept only for a while', async () => {
    const sbx = await Sandbox.create('ccflow', conn);
    const h = await sbx.commands.run('exit 3', { background: true, timeoutMs: 0 });
    await h.disconnect();
    await sleep(200);
    const soon = await sbx.commands.connect(h.pid);
    const err = await soon.wait().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CommandExitError, String(err));
    assert.equal(err.exitCode, 3);
    await sleep(800);
    await assert.rejects(sbx.commands.connect(h.pid), NotFoundError);
    await sbx.kill();
  });

  test('a sandbox expires at its timeout unless renewed, and connect only ever extends it', async () => {
    const sbx = await Sandbox.create('ccflow', { ...conn, timeoutMs: 1_000 });
    await sleep(500);
    await sbx.setTimeout(2_000);
    await Sandbox.connect(sbx.sandboxId, { ...conn, timeoutMs: 100 }); // does not shorten it
    await sleep(1_000);
    assert.equal((await Sandbox.getInfo(sbx.sandboxId, conn)).sandboxId, sbx.sandboxId);
    await sleep(1_300);
    await assert.rejects(Sandbox.getInfo(sbx.sandboxId, conn), SandboxNotFoundError);
    // envd calls to it fail the way they do on E2B (the proxy answers 502).
    await assert.rejects(sbx.commands.list(), TimeoutError);
    assert.equal(await sbx.isRunning(), false);
  });

  test('the API key and each sandbox access token are checked', async () => {
    await assert.rejects(Sandbox.create('ccflow', { ...conn, apiKey: 'e2b_wrong' }), AuthenticationError);
    const sbx = await Sandbox.create('ccflow', conn);
    await sbx.files.write('/home/user/note.txt', 'hi');
    const list = await fetch(`${d.server.sandboxUrl}/process.Process/List`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': 'wrong' },
      body: '{}',
    });
    assert.equal(list.status, 401);
    const url = await sbx.downloadUrl('/home/user/note.txt');
    const headers = { 'E2b-Sandbox-Id': sbx.sandboxId };
    assert.equal(await (await fetch(url, { headers })).text(), 'hi');
    const forged = new URL(url);
    forged.searchParams.set('signature', 'v1_forged');
    assert.equal((await fetch(forged, { headers })).status, 401);
    await sbx.kill();
  });

  test('lists by metadata, and refuses unknown templates', async () => {
    const a = await Sandbox.create('ccflow', { ...conn, metadata: { workflowId: 'w a&b=c', owner: 'ccflow' } });
    const b = await Sandbox.create('ccflow', { ...conn, metadata: { workflowId: 'other', owner: 'ccflow' } });
    const found = await Sandbox.list({ ...conn, query: { metadata: { workflowId: 'w a&b=c' } } }).nextItems();
    assert.deepEqual(
      found.map((s) => s.sandboxId),
      [a.sandboxId],
    );
    await Promise.all([a.kill(), b.kill()]);
    const err = await Sandbox.create('nope', conn).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof SandboxError && err.statusCode === 404, String(err));
  });
});
