import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { AddressPolicy } from '../../src/proxy/address-policy.js';
import { EgressProxy } from '../../src/proxy/egress-proxy.js';
import { ModelProxy } from '../../src/proxy/model-proxy.js';
import { MemoryStateStore } from '../../src/proxy/state.js';
import { TokenSigner } from '../../src/proxy/tokens.js';
import { checkBubblewrap, systemArgs } from '../../src/sandbox/local/bwrap.js';
import {
  agentNetworkEnv,
  EGRESS_SOCKET,
  jailNetworkArgs,
  MODEL_SOCKET,
  RELAY_ENV,
  RELAY_PRELUDE,
  relayPairs,
  SANDBOX_RELAY,
  type JailNetwork,
} from '../../src/sandbox/local/network.js';

const RELAY_SCRIPT = fileURLToPath(new URL('../../sandbox-template/relay/relay.mjs', import.meta.url));
const NODE_INSIDE = '/opt/ccflow/bin/node';

/** What the agent tries from inside; prints one JSON object of outcomes. */
const PROBE = `
import http from 'node:http';
import net from 'node:net';
const [, , hostPort, lanAddr, upstreamPort, allowedPort] = process.argv;
const tcp = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 3000 });
  s.once('connect', () => { s.destroy(); resolve('connected'); });
  s.once('timeout', () => { s.destroy(); resolve('timeout'); });
  s.once('error', (e) => resolve(e.code));
});
const model = (key) => new Promise((resolve) => {
  const r = http.request(process.env.ANTHROPIC_BASE_URL + '/v1/messages', { method: 'POST', headers: key ? { 'x-api-key': key } : {} }, (res) => { res.resume(); resolve(res.statusCode); });
  r.on('error', (e) => resolve(e.code)); r.end('{}');
});
const connect = (authority) => new Promise((resolve) => {
  const u = new URL(process.env.HTTPS_PROXY);
  const r = http.request({ host: u.hostname, port: u.port, method: 'CONNECT', path: authority });
  r.on('connect', (res, sock) => { sock.destroy(); resolve(res.statusCode); });
  r.on('error', (e) => resolve(e.code)); r.end();
});
const out = {
  modelWithToken: await model(process.env.ANTHROPIC_API_KEY),
  modelWithoutToken: await model(undefined),
  hostLoopback: await tcp('127.0.0.1', Number(hostPort)),
  upstreamDirect: await tcp('127.0.0.1', Number(upstreamPort)),
  hostLan: lanAddr === '-' ? 'no-lan-address' : await tcp(lanAddr, Number(hostPort)),
  allowed: await connect('pkg.example.test:' + allowedPort),
  notAllowed: await connect('other.example.test:' + allowedPort),
  metadata: await connect('169.254.169.254:80'),
};
console.log(JSON.stringify(out));
`;

/** The CLI's own way to the model (ANTHROPIC_UNIX_SOCKET); nothing listens on TCP. */
const SOCKET_PROBE = `
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
const viaSocket = await new Promise((resolve) => {
  const r = http.request({ socketPath: process.env.ANTHROPIC_UNIX_SOCKET, path: '/v1/messages', method: 'POST', headers: { 'x-api-key': process.env.ANTHROPIC_API_KEY } }, (res) => { res.resume(); resolve(res.statusCode); });
  r.on('error', (e) => resolve(e.code)); r.end('{}');
});
const relayPort = await new Promise((resolve) => { const s = net.connect(41100, '127.0.0.1'); s.once('connect', () => { s.destroy(); resolve('connected'); }); s.once('error', (e) => resolve(e.code)); });
const relays = fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).filter((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').includes('relay.mjs'); } catch { return false; } }).length;
console.log(JSON.stringify({ viaSocket, relayPort, proxyEnv: process.env.HTTPS_PROXY ?? null, relays }));
`;

describe('an isolated jail network', () => {
  let tmp: string;
  let upstream: http.Server;
  let hostService: http.Server;
  let target: http.Server;
  let model: ModelProxy;
  let egress: EgressProxy;
  let bwrap: string;
  const port = (s: http.Server) => (s.address() as AddressInfo).port;

  before(async () => {
    bwrap = await checkBubblewrap();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-net-'));
    const listen = async (s: http.Server, host: string) => {
      await new Promise<void>((r) => s.listen(0, host, r));
      return s;
    };
    upstream = await listen(
      http.createServer((_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{}')),
      '127.0.0.1',
    );
    // Stands for the worker's Temporal or metrics port, on every host address.
    hostService = await listen(
      http.createServer((_q, r) => r.end('host service')),
      '0.0.0.0',
    );
    target = await listen(
      http.createServer((_q, r) => r.end('allowed host')),
      '127.0.0.2',
    );
    model = new ModelProxy({
      upstreamUrl: `http://127.0.0.1:${port(upstream)}`,
      credential: { kind: 'apiKey', value: 'sk-real' },
      signer: new TokenSigner({ secret: randomBytes(32) }),
      state: new MemoryStateStore(),
    });
    egress = new EgressProxy({
      lookup: async (h) => (h.endsWith('.example.test') ? [{ address: '127.0.0.2', family: 4 }] : []),
      addresses: new AddressPolicy({ exceptions: ['127.0.0.2'] }),
    });
  });
  after(async () => {
    await model.close();
    await egress.close();
    for (const s of [upstream, hostService, target]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await rm(tmp, { recursive: true, force: true });
  });

  test('reaches the model and allow-listed hosts through the relay, and nothing else', async () => {
    const sockets = path.join(tmp, 'sbx-net', 'sockets');
    await mkdir(sockets, { recursive: true });
    await model.addSandboxSocket(path.join(sockets, MODEL_SOCKET), 'sbx-net');
    await egress.addSandbox(path.join(sockets, EGRESS_SOCKET), {
      sandboxId: 'sbx-net',
      task: 't',
      namespace: 'default',
      policy: { allow: [`pkg.example.test:${port(target)}`] },
    });
    const net: JailNetwork = { mode: 'isolated', socketsDir: sockets, model: 'relay', egress: true };
    const lan =
      Object.values(os.networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address ?? '-';
    const result = await runProbe(net, PROBE, [String(port(hostService)), lan, String(port(upstream)), String(port(target))]);
    assert.deepEqual(result, {
      modelWithToken: 200,
      modelWithoutToken: 401,
      hostLoopback: 'ECONNREFUSED',
      upstreamDirect: 'ECONNREFUSED',
      hostLan: lan === '-' ? 'no-lan-address' : 'ENETUNREACH',
      allowed: 200,
      notAllowed: 403,
      metadata: 403,
    });
  });

  test('with the model on its socket and no egress, no relay runs and no port is open', async () => {
    const sockets = path.join(tmp, 'sbx-sock', 'sockets');
    await mkdir(sockets, { recursive: true });
    await model.addSandboxSocket(path.join(sockets, MODEL_SOCKET), 'sbx-net');
    const net: JailNetwork = { mode: 'isolated', socketsDir: sockets, model: 'socket', egress: false };
    assert.deepEqual(relayPairs(net), []);
    const result = await runProbe(net, SOCKET_PROBE, []);
    assert.deepEqual(result, { viaSocket: 200, relayPort: 'ECONNREFUSED', proxyEnv: null, relays: 0 });
  });

  async function runProbe(net: JailNetwork, script: string, args: string[]): Promise<unknown> {
    if (net.mode !== 'isolated') throw new Error('isolated only');
    const probe = path.join(tmp, `probe-${randomBytes(4).toString('hex')}.mjs`);
    await writeFile(probe, script);
    const env = {
      ...agentNetworkEnv(net),
      ANTHROPIC_API_KEY: model.mint({ sbx: 'sbx-net', task: 't', ns: 'default', run: 'r' }),
      [RELAY_ENV]: relayPairs(net).join(' '),
    };
    const jail = [
      '--as-pid-1',
      '--unshare-user',
      '--uid',
      '1000',
      '--gid',
      '1000',
      '--unshare-pid',
      '--disable-userns',
      ...(await systemArgs()),
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      ...jailNetworkArgs(net),
      '--ro-bind',
      process.execPath,
      NODE_INSIDE,
      '--ro-bind',
      RELAY_SCRIPT,
      SANDBOX_RELAY,
      '--ro-bind',
      probe,
      '/opt/probe.mjs',
      '--clearenv',
      ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
      '--',
      '/bin/sh',
      '-c',
      `${RELAY_PRELUDE}\nshift\nexec "$@"`,
      'sh',
      NODE_INSIDE,
      NODE_INSIDE,
      '/opt/probe.mjs',
      ...args,
    ];
    const child = spawn(bwrap, jail, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, err);
    return JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
  }
});
