/**
 * The model proxy's cost per model request: the same streamed `POST /v1/messages` against the
 * scripted model directly, and through the proxy (over TCP, as E2B sandboxes reach it; over a
 * sandbox's Unix socket, as local jails do; and from inside a real jail through its relay).
 * Requests alternate between the paths so load on the machine hits them alike. Time is to the
 * last byte of the answer (the whole SSE stream); the first-byte time is kept too.
 *
 * Standalone: `node --import tsx bench/proxy.ts [--requests N]`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parseScript, startModelServer } from '../src/testing/model/index.js';
import { ModelProxy } from '../src/proxy/model-proxy.js';
import { MemoryStateStore } from '../src/proxy/state.js';
import { TokenSigner } from '../src/proxy/tokens.js';
import { bwrapAvailable, checkBubblewrap, systemArgs } from '../src/sandbox/local/bwrap.js';
import { JAIL_SOCKETS_DIR, MODEL_PROXY_PORT, MODEL_SOCKET, RELAY_ENV, RELAY_PRELUDE, SANDBOX_RELAY } from '../src/sandbox/local/network.js';
import { summarize, type Summary } from './lib/stats.js';

export interface ProxyPath {
  name: string;
  totalMs: Summary;
  firstByteMs: Summary;
}

export interface ProxyResult {
  requests: number;
  paths: ProxyPath[];
  /** p50 of each proxied path minus p50 of the direct one, to the last byte. */
  addedP50Ms: Record<string, number>;
  /** The relay measured on its own, when bubblewrap is available: jail with relay vs host, both through the proxy. */
  note: string;
}

const BODY = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  stream: true,
  messages: [{ role: 'user', content: 'Say hi.' }],
});

/** The client, as a script that also runs inside a jail: N timed requests, JSON out. */
const CLIENT = `
import http from 'node:http';
const [url, socketPath, token, n, body] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  let first;
  const u = new URL(url);
  const req = http.request({ ...(socketPath !== '-' ? { socketPath } : { hostname: u.hostname, port: u.port }), agent, path: '/v1/messages?beta=true', method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': token, 'anthropic-version': '2023-06-01' } }, (res) => {
    res.on('data', () => { first ??= process.hrtime.bigint(); });
    res.on('end', () => { if (res.statusCode !== 200) reject(new Error('status ' + res.statusCode)); else resolve([Number(process.hrtime.bigint() - t0) / 1e6, Number((first ?? process.hrtime.bigint()) - t0) / 1e6]); });
  });
  req.on('error', reject);
  req.end(body);
});
const out = [];
for (let i = 0; i < Number(n); i++) out.push(await one());
console.log(JSON.stringify(out));
`;

async function runClient(argv: string[], cwd: string): Promise<Array<[number, number]>> {
  const child = spawn(argv[0] as string, argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`bench client exited ${code}: ${err.slice(-1000)}`);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '[]') as Array<[number, number]>;
}

export async function proxyBench(o: { requests: number; log: (s: string) => void }): Promise<ProxyResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-bench-proxy-'));
  const model = await startModelServer({
    script: parseScript({ conversations: [{ steps: [{ text: 'Hi! How can I help you today?' }] }] }),
  });
  const proxy = new ModelProxy({
    upstreamUrl: model.url,
    credential: { kind: 'apiKey', value: 'sk-bench' },
    signer: new TokenSigner({ secret: randomBytes(32) }),
    state: new MemoryStateStore(),
  });
  try {
    const proxyUrl = await proxy.listen();
    const sockets = path.join(dir, 'sockets');
    await mkdir(sockets);
    const socket = path.join(sockets, MODEL_SOCKET);
    await proxy.addSandboxSocket(socket, 'sbx-bench');
    const token = proxy.mint({ sbx: 'sbx-bench', task: 'bench', ns: 'default', run: 'bench' });
    const client = path.join(dir, 'client.mjs');
    await writeFile(client, CLIENT);
    const node = process.execPath;

    const paths: Array<{ name: string; argv: () => Promise<string[]> }> = [
      { name: 'direct', argv: async () => [node, client, model.url, '-', 'sk-bench', '', BODY] },
      { name: 'proxy (TCP)', argv: async () => [node, client, proxyUrl, '-', token, '', BODY] },
      { name: 'proxy (sandbox socket)', argv: async () => [node, client, 'http://x', socket, token, '', BODY] },
    ];
    if (await bwrapAvailable()) {
      const bwrap = await checkBubblewrap();
      const relay = fileURLToPath(new URL('../sandbox-template/relay/relay.mjs', import.meta.url));
      const jail = [
        bwrap,
        '--as-pid-1',
        '--unshare-user',
        '--uid',
        '1000',
        '--gid',
        '1000',
        '--unshare-pid',
        '--unshare-net',
        '--disable-userns',
        ...(await systemArgs()),
        '--proc',
        '/proc',
        '--dev',
        '/dev',
        '--tmpfs',
        '/tmp',
        '--ro-bind',
        sockets,
        JAIL_SOCKETS_DIR,
        '--ro-bind',
        node,
        '/opt/ccflow/bin/node',
        '--ro-bind',
        relay,
        SANDBOX_RELAY,
        '--ro-bind',
        client,
        '/opt/client.mjs',
        '--setenv',
        RELAY_ENV,
        `${MODEL_PROXY_PORT}=${JAIL_SOCKETS_DIR}/${MODEL_SOCKET}`,
        '--',
        '/bin/sh',
        '-c',
        `${RELAY_PRELUDE}\nshift\nexec "$@"`,
        'sh',
        '/opt/ccflow/bin/node',
      ];
      paths.push({
        name: 'proxy (jail, through the relay)',
        argv: async () => [
          ...jail,
          '/opt/ccflow/bin/node',
          '/opt/client.mjs',
          `http://127.0.0.1:${MODEL_PROXY_PORT}`,
          '-',
          token,
          '',
          BODY,
        ],
      });
    }

    // Rounds of 50 requests per path, alternating, so drifting load hits every path alike.
    const per = new Map<string, Array<[number, number]>>(paths.map((p) => [p.name, []]));
    const round = Math.min(50, o.requests);
    // One warm-up round each (connections, JIT), not counted.
    for (const p of paths)
      await runClient(
        (await p.argv()).map((a) => (a === '' ? '5' : a)),
        dir,
      );
    for (let done = 0; done < o.requests; done += round) {
      for (const p of paths) {
        const argv = (await p.argv()).map((a) => (a === '' ? String(Math.min(round, o.requests - done)) : a));
        per.get(p.name)?.push(...(await runClient(argv, dir)));
      }
      o.log(`  proxy: ${Math.min(done + round, o.requests)}/${o.requests} requests per path`);
    }
    const result: ProxyPath[] = paths.map((p) => {
      const samples = per.get(p.name) ?? [];
      return { name: p.name, totalMs: summarize(samples.map((s) => s[0])), firstByteMs: summarize(samples.map((s) => s[1])) };
    });
    const direct = result.find((r) => r.name === 'direct')?.totalMs.p50 ?? Number.NaN;
    const addedP50Ms = Object.fromEntries(result.filter((r) => r.name !== 'direct').map((r) => [r.name, r.totalMs.p50 - direct]));
    return {
      requests: o.requests,
      paths: result,
      addedP50Ms,
      note: 'each request is a streamed POST /v1/messages answered by the scripted model (7 SSE events); keep-alive connections, one request at a time',
    };
  } finally {
    await proxy.close();
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '500' } } });
  proxyBench({ requests: Number(values.requests), log: (s) => console.error(s) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
