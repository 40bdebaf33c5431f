/**
 * The E2B test double behaves like the real service where it matters to ccflow, seen through
 * the real e2b SDK: these are the pitfalls the provider is built to survive.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ALL_TRAFFIC,
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

describe("E2B test double: the sandbox's firewall", () => {
  let d: DoubleFixture;
  let conn: ConnectionOpts;
  /** Two host services: `pub` stands in for a public host a policy may allow, `priv` for anything else on the host. */
  const servers: net.Server[] = [];
  let pub: number;
  let priv: number;
  const listen = async (): Promise<number> => {
    const s = net.createServer((c) => c.end('hello from the host\n'));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return (s.address() as net.AddressInfo).port;
  };
  before(async () => {
    pub = await listen();
    priv = await listen();
    d = await startDouble({ publicPorts: [pub] });
    conn = { apiKey: d.server.apiKey, apiUrl: d.server.apiUrl, sandboxUrl: d.server.sandboxUrl };
  });
  after(async () => {
    await d?.close();
    for (const s of servers) s.close();
  });

  /** What a connection from inside the sandbox to each host port gives: the greeting, or the error code. */
  async function probe(sbx: Sandbox): Promise<string> {
    const js = `const net = require("net");
(async () => {
  for (const port of [${pub}, ${priv}]) {
    const out = await new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port, timeout: 3000 });
      let got = "";
      s.on("data", (d) => (got += d));
      s.once("end", () => resolve(got.trim()));
      s.once("timeout", () => { s.destroy(); resolve("timeout"); });
      s.once("error", (e) => resolve(e.code));
    });
    console.log(port + " " + out);
  }
})();`;
    const r = await sbx.commands.run(`/opt/ccflow/bin/node -e '${js}'`, { timeoutMs: 0 });
    return r.stdout;
  }

  test('no network policy: the sandbox shares the host network', async () => {
    const sbx = await Sandbox.create('ccflow', conn);
    const seen = await probe(sbx);
    assert.match(seen, new RegExp(`${pub} hello from the host`));
    assert.match(seen, new RegExp(`${priv} hello from the host`));
    await sbx.kill();
  });

  test('everything denied but an allowed address: only the public ports answer', async () => {
    const sbx = await Sandbox.create('ccflow', { ...conn, network: { allowOut: ['127.0.0.1'], denyOut: [ALL_TRAFFIC] } });
    const seen = await probe(sbx);
    assert.match(seen, new RegExp(`${pub} hello from the host`));
    assert.match(seen, new RegExp(`${priv} ECONNREFUSED`));
    const info = d.server.sandboxes.get(sbx.sandboxId);
    assert.deepEqual(info?.network, { allowOut: ['127.0.0.1'], denyOut: ['0.0.0.0/0'] });
    await sbx.kill();
  });

  test("open but for private ranges: the public ports answer, the host's other ports do not", async () => {
    const sbx = await Sandbox.create('ccflow', { ...conn, network: { denyOut: ['10.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16'] } });
    const seen = await probe(sbx);
    assert.match(seen, new RegExp(`${pub} hello from the host`));
    assert.match(seen, new RegExp(`${priv} ECONNREFUSED`));
    await sbx.kill();
  });

  test('everything denied and nothing allowed, or no internet: nothing answers', async () => {
    for (const opts of [{ network: { denyOut: [ALL_TRAFFIC] } }, { allowInternetAccess: false }]) {
      const sbx = await Sandbox.create('ccflow', { ...conn, ...opts });
      const seen = await probe(sbx);
      assert.match(seen, new RegExp(`${pub} ECONNREFUSED`), JSON.stringify(opts));
      assert.match(seen, new RegExp(`${priv} ECONNREFUSED`), JSON.stringify(opts));
      await sbx.kill();
    }
  });
});
