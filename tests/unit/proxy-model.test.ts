import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { OAUTH_BETA, type UpstreamCredential } from '../../src/proxy/credentials.js';
import { ModelProxy, type ModelProxyEvent } from '../../src/proxy/model-proxy.js';
import { costOf, priceOf } from '../../src/proxy/prices.js';
import { FileStateStore, MemoryStateStore, type ProxyStateStore } from '../../src/proxy/state.js';
import { TokenSigner } from '../../src/proxy/tokens.js';

const REAL_KEY = `sk-real-${randomBytes(8).toString('hex')}`;

/** An upstream that records what reached it and answers as the test says. */
interface Upstream {
  url: string;
  seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }>;
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const u: Upstream = {
    url: '',
    seen: [],
    answer: (_req, res) => sse(res, 'claude-sonnet-4-5', { input_tokens: 1000, output_tokens: 100 }),
    close: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    u.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => void u.answer(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  u.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  u.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return u;
}

function sseEvent(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function sse(res: http.ServerResponse, model: string, usage: Record<string, number>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(sseEvent('message_start', { message: { id: 'm1', model, usage: { ...usage, output_tokens: 1 } } }));
  res.write(sseEvent('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  res.write(sseEvent('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'hi' } }));
  res.write(sseEvent('content_block_stop', { index: 0 }));
  res.write(sseEvent('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: usage['output_tokens'] } }));
  res.end(sseEvent('message_stop', {}));
}

interface Fixture {
  upstream: Upstream;
  proxy: ModelProxy;
  url: string;
  events: ModelProxyEvent[];
  signer: TokenSigner;
}

async function startProxy(o: { credential?: UpstreamCredential; state?: ProxyStateStore; signer?: TokenSigner } = {}): Promise<Fixture> {
  const upstream = await startUpstream();
  const events: ModelProxyEvent[] = [];
  const signer = o.signer ?? new TokenSigner({ secret: randomBytes(32) });
  const proxy = new ModelProxy({
    upstreamUrl: upstream.url,
    credential: o.credential ?? { kind: 'apiKey', value: REAL_KEY },
    signer,
    state: o.state ?? new MemoryStateStore(),
    onEvent: (e) => events.push(e),
  });
  const url = await proxy.listen();
  return { upstream, proxy, url, events, signer };
}

async function stop(f: Fixture): Promise<void> {
  await f.proxy.close();
  await f.upstream.close();
}

async function post(url: string, token: string | undefined, body: unknown = { model: 'x', stream: true }, socketPath?: string) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        ...(socketPath ? { socketPath, agent: false } : { hostname: u.hostname, port: u.port }),
        path: `${u.pathname === '/' ? '' : u.pathname}/v1/messages?beta=true`,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { 'x-api-key': token } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const claims = (over: Partial<{ sbx: string; budget: number; run: string }> = {}) => ({
  sbx: over.sbx ?? 'sbx-a',
  task: 'task-1',
  ns: 'default',
  run: over.run ?? 'run-1/a1',
  ...(over.budget === undefined ? {} : { budget: over.budget }),
});

describe('tokens', () => {
  test('verify accepts what mint made, and nothing altered or signed with another secret', () => {
    const s = new TokenSigner({ secret: randomBytes(32) });
    const t = s.mint(claims({ budget: 1.5 }));
    const v = s.verify(t);
    assert.ok(v.ok);
    assert.equal(v.claims.sbx, 'sbx-a');
    assert.equal(v.claims.budget, 1.5);
    const [p, body, mac] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), budget: 1000 })).toString(
      'base64url',
    );
    assert.deepEqual(s.verify(`${p}.${forged}.${mac}`), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(new TokenSigner({ secret: randomBytes(32) }).verify(t), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(s.verify('sk-ant-123'), { ok: false, reason: 'malformed' });
  });

  test('a token older than maxAge is refused', () => {
    let now = 1_000_000;
    const s = new TokenSigner({ secret: randomBytes(32), maxAgeMs: 1000, now: () => now });
    const t = s.mint(claims());
    now += 1001;
    assert.deepEqual(s.verify(t), { ok: false, reason: 'expired' });
  });
});

describe('prices', () => {
  test('match the pinned CLI (1M input + 100k output tokens)', () => {
    const u = { input_tokens: 1_000_000, output_tokens: 100_000 };
    assert.equal(costOf('claude-sonnet-4-5', u), 4.5);
    assert.equal(costOf('claude-sonnet-4-5-20250929', u), 4.5);
    assert.equal(costOf('claude-opus-4-5', u), 7.5);
    assert.equal(costOf('claude-haiku-4-5', u), 1.5);
    assert.equal(costOf('claude-opus-5-5', { input_tokens: 1_000_000 }), 4);
    assert.equal(costOf('claude-opus-5-5', { output_tokens: 1_000_000 }), 20);
  });

  test('cache writes by TTL, cache reads, and unknown models at the fallback tier', () => {
    const u = {
      cache_creation_input_tokens: 1_000_000,
      cache_creation: { ephemeral_1h_input_tokens: 400_000 },
      cache_read_input_tokens: 1_000_000,
    };
    // sonnet: 600k x 3.75 + 400k x 6 + 1M x 0.30
    assert.ok(Math.abs(costOf('claude-sonnet-4-5', u) - (2.25 + 2.4 + 0.3)) < 1e-9);
    assert.equal(priceOf('claude-opus-4-5').estimated, false);
    assert.equal(priceOf('claude-opus-4').estimated, true, 'no catalog id is a prefix of it');
    assert.equal(priceOf('some-gateway-model').name, 'tier_5_25');
  });
});

describe('model proxy', () => {
  let f: Fixture;
  before(async () => {
    f = await startProxy();
  });
  after(async () => {
    await stop(f);
  });

  test('swaps the token for the real key; the token never reaches upstream', async () => {
    const token = f.proxy.mint(claims());
    const r = await post(f.url, token);
    assert.equal(r.status, 200);
    const seen = f.upstream.seen.at(-1)!;
    assert.equal(seen.headers['x-api-key'], REAL_KEY);
    assert.equal(seen.url, '/v1/messages?beta=true');
    assert.ok(!JSON.stringify(seen.headers).includes(token));
    assert.equal(seen.headers['accept-encoding'], undefined);
    assert.ok(r.body.includes('"message_stop"'));
  });

  test('meters cost and tokens of a streamed answer', async () => {
    const token = f.proxy.mint(claims({ run: 'meter' }));
    await post(f.url, token);
    await post(f.url, token);
    const u = await f.proxy.runUsage('sbx-a', 'meter');
    assert.equal(u?.requests, 2);
    assert.deepEqual(u?.tokens, { input: 2000, output: 200, cacheRead: 0, cacheCreation: 0 });
    assert.ok(Math.abs((u?.costUsd ?? 0) - (2 * (1000 * 3 + 100 * 15)) / 1e6) < 1e-12);
    assert.deepEqual(u?.models, ['claude-sonnet-4-5']);
  });

  test('refuses missing, forged and revoked tokens; a revoked sandbox gets no new tokens', async () => {
    assert.equal((await post(f.url, undefined)).status, 401);
    assert.equal((await post(f.url, REAL_KEY)).status, 401, 'the real key itself is not a token');
    const other = new TokenSigner({ secret: randomBytes(32) }).mint(claims());
    assert.equal((await post(f.url, other)).status, 401);
    const token = f.proxy.mint(claims({ sbx: 'sbx-gone' }));
    assert.equal((await post(f.url, token)).status, 200);
    const before = f.upstream.seen.length;
    await f.proxy.revokeSandbox('sbx-gone');
    const r = await post(f.url, token);
    assert.equal(r.status, 401);
    assert.equal(r.headers['x-should-retry'], 'false');
    assert.match(r.body, /torn down/);
    assert.equal(f.upstream.seen.length, before, 'nothing reached upstream');
    assert.throws(() => f.proxy.mint(claims({ sbx: 'sbx-gone' })), /torn down/);
    assert.ok(f.events.some((e) => e.type === 'refused' && e.reason === 'revoked' && e.sandboxId === 'sbx-gone'));
  });

  test('a run over its budget is refused at the source with 402, and the refusal is recorded', async () => {
    // 1000 in + 100 out on sonnet = $0.0045 a request; a budget of $0.006 allows two.
    const token = f.proxy.mint(claims({ run: 'budget', budget: 0.006 }));
    assert.equal((await post(f.url, token)).status, 200);
    assert.equal((await post(f.url, token)).status, 200, 'still under budget before this request');
    const before = f.upstream.seen.length;
    const r = await post(f.url, token);
    assert.equal(r.status, 402);
    assert.equal(r.headers['x-should-retry'], 'false');
    assert.equal(JSON.parse(r.body).error.type, 'billing_error');
    assert.equal(f.upstream.seen.length, before);
    const u = await f.proxy.runUsage('sbx-a', 'budget');
    assert.equal(u?.budgetRefusals, 1);
    assert.equal(u?.budgetUsd, 0.006);
  });

  test('forwards only the Messages API', async () => {
    const token = f.proxy.mint(claims());
    for (const p of ['/v1/messages/batches', '/v1/files', '/v1/organizations/me', '/../v1/messages/x']) {
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(f.url);
        http
          .request({ hostname: u.hostname, port: u.port, path: p, method: 'POST', headers: { 'x-api-key': token } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', reject)
          .end('{}');
      });
      assert.equal(status, 404, p);
    }
  });

  test('records upstream 429 and 529 with retry-after and passes them through unchanged', async () => {
    const token = f.proxy.mint(claims({ run: 'limits' }));
    f.upstream.answer = (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }));
    };
    const r = await post(f.url, token);
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '7');
    f.upstream.answer = (_req, res) => {
      res.writeHead(529, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }));
    };
    assert.equal((await post(f.url, token)).status, 529);
    f.upstream.answer = (_req, res) => sse(res, 'claude-sonnet-4-5', { input_tokens: 1, output_tokens: 1 });
    const u = await f.proxy.runUsage('sbx-a', 'limits');
    assert.equal(u?.rateLimited, 1);
    assert.equal(u?.overloaded, 1);
    assert.deepEqual(
      u?.upstreamErrors.map((e) => ({ status: e.status, retryAfterSeconds: e.retryAfterSeconds, errorType: e.errorType })),
      [
        { status: 429, retryAfterSeconds: 7, errorType: 'rate_limit_error' },
        { status: 529, retryAfterSeconds: undefined, errorType: 'overloaded_error' },
      ],
    );
  });

  test('SSE passes through incrementally: the client reads the first event before upstream sends the rest', async () => {
    let release!: () => void;
    const clientGotFirst = new Promise<void>((r) => (release = r));
    let upstreamWaited = false;
    f.upstream.answer = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent('message_start', { message: { model: 'claude-haiku-4-5', usage: { input_tokens: 5, output_tokens: 1 } } }));
      // A buffering proxy would hold that event until the end: this waits for the client to
      // have it, with a deadline so a regression fails instead of hanging.
      let timer: NodeJS.Timeout | undefined;
      upstreamWaited = await Promise.race([
        clientGotFirst.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 20_000))),
      ]);
      clearTimeout(timer);
      res.write(sseEvent('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } }));
      res.end(sseEvent('message_stop', {}));
    };
    const token = f.proxy.mint(claims({ run: 'sse' }));
    const u = new URL(f.url);
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      http
        .request({ hostname: u.hostname, port: u.port, path: '/v1/messages', method: 'POST', headers: { 'x-api-key': token } }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            events.push(d);
            if (d.includes('message_start')) release();
          });
          res.on('end', resolve);
        })
        .on('error', reject)
        .end('{}');
    });
    f.upstream.answer = (_req, res) => sse(res, 'claude-sonnet-4-5', { input_tokens: 1, output_tokens: 1 });
    assert.equal(upstreamWaited, true, 'the first event reached the client while upstream was still holding the rest');
    assert.ok(events.join('').includes('message_stop'));
    const usage = await f.proxy.runUsage('sbx-a', 'sse');
    assert.deepEqual(usage?.tokens, { input: 5, output: 3, cacheRead: 0, cacheCreation: 0 });
  });
});

describe('model proxy on a sandbox socket', () => {
  test('accepts only tokens of the sandbox the socket belongs to; revocation closes the socket', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-proxy-'));
    const f = await startProxy();
    try {
      const sock = path.join(dir, 'model.sock');
      await f.proxy.addSandboxSocket(sock, 'sbx-mine');
      const mine = f.proxy.mint(claims({ sbx: 'sbx-mine' }));
      const theirs = f.proxy.mint(claims({ sbx: 'sbx-theirs' }));
      assert.equal((await post('http://x/', mine, undefined, sock)).status, 200);
      assert.equal((await post('http://x/', theirs, undefined, sock)).status, 401);
      assert.ok(f.events.some((e) => e.type === 'refused' && e.reason === 'wrong-sandbox'));
      await f.proxy.revokeSandbox('sbx-mine');
      await assert.rejects(post('http://x/', mine, undefined, sock), /ENOENT|ECONNREFUSED/);
    } finally {
      await stop(f);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('model proxy credentials and state', () => {
  test('an OAuth token goes upstream as a bearer with the OAuth beta flag', async () => {
    const f = await startProxy({ credential: { kind: 'oauthToken', value: 'sk-ant-oat-real' } });
    try {
      await post(f.url, f.proxy.mint(claims()));
      const h = f.upstream.seen.at(-1)!.headers;
      assert.equal(h['authorization'], 'Bearer sk-ant-oat-real');
      assert.equal(h['x-api-key'], undefined);
      assert.ok(String(h['anthropic-beta']).split(',').includes(OAUTH_BETA));
    } finally {
      await stop(f);
    }
  });

  test('revocations and run usage survive a restart through the file store', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-proxy-state-'));
    const secret = randomBytes(32);
    try {
      const store1 = new FileStateStore(dir, { retainMs: 60_000 });
      await store1.load();
      const f1 = await startProxy({ state: store1, signer: new TokenSigner({ secret }) });
      const revoked = f1.proxy.mint(claims({ sbx: 'sbx-old' }));
      const live = f1.proxy.mint(claims({ sbx: 'sbx-live', run: 'r', budget: 0.005 }));
      await post(f1.url, live);
      await f1.proxy.revokeSandbox('sbx-old');
      await stop(f1);

      const store2 = new FileStateStore(dir, { retainMs: 60_000 });
      await store2.load();
      const f2 = await startProxy({ state: store2, signer: new TokenSigner({ secret }) });
      try {
        assert.equal((await post(f2.url, revoked)).status, 401);
        assert.equal((await post(f2.url, live)).status, 200, 'a live token verifies after the restart');
        assert.equal((await post(f2.url, live)).status, 402, 'and the spend before the restart counts');
        assert.equal((await f2.proxy.runUsage('sbx-live', 'r'))?.requests, 2);
      } finally {
        await stop(f2);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('token secret', () => {
  test('is created once (0600) and read back; a short configured secret is refused', async () => {
    const { loadOrCreateSecret, parseSecret } = await import('../../src/proxy/secret.js');
    const { stat } = await import('node:fs/promises');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-secret-'));
    try {
      const file = path.join(dir, 'state', 'proxy-secret');
      const a = await loadOrCreateSecret(file);
      const b = await loadOrCreateSecret(file);
      assert.equal(a.length, 32);
      assert.ok(a.equals(b));
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.throws(() => parseSecret('abcd'), /at least 32 random bytes/);
      assert.equal(parseSecret('00'.repeat(32)).length, 32);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
