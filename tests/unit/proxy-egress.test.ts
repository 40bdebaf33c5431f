import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { AddressPolicy, normalizeAddress } from '../../src/proxy/address-policy.js';
import { EgressRules, parseAllowEntry, type EgressPolicy } from '../../src/proxy/egress-policy.js';
import { EgressProxy, type EgressEvent, type Lookup } from '../../src/proxy/egress-proxy.js';

describe('forbidden addresses', () => {
  const policy = new AddressPolicy();
  const forbidden = [
    '127.0.0.1',
    '127.1.2.3',
    '0.0.0.0',
    '10.1.2.3',
    '172.20.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.100.100.200',
    '192.0.0.192',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:10.0.0.1]',
    'fe80::1%eth0',
    'fd00:ec2::254',
    'fc00::1',
    '64:ff9b::a00:1',
    '2002:7f00:1::',
    'ff02::1',
  ];
  for (const a of forbidden) test(`refuses ${a}`, () => assert.notEqual(policy.check(a), undefined));
  for (const a of ['8.8.8.8', '1.1.1.1', '140.82.112.3', '2606:4700:4700::1111']) {
    test(`allows ${a}`, () => assert.equal(policy.check(a), undefined));
  }
  test('names the range', () => {
    assert.match(policy.check('169.254.169.254') ?? '', /metadata/);
    assert.equal(normalizeAddress('::FFFF:0A00:0001'), '10.0.0.1');
  });
  test('exceptions are exact addresses', () => {
    const p = new AddressPolicy({ exceptions: ['127.0.0.2'] });
    assert.equal(p.check('127.0.0.2'), undefined);
    assert.notEqual(p.check('127.0.0.1'), undefined);
  });
});

describe('allow-list rules', () => {
  test('hosts, wildcards and ports', () => {
    const r = new EgressRules({ allow: ['registry.npmjs.org', '*.pypi.org', 'github.com', 'git.example.com:8443'] });
    assert.equal(r.refusal('registry.npmjs.org', 443), undefined);
    assert.equal(r.refusal('REGISTRY.npmjs.org.', 80), undefined);
    assert.equal(r.refusal('files.pypi.org', 443), undefined);
    assert.match(r.refusal('pypi.org', 443) ?? '', /not on this task's allow-list/, 'a wildcard does not cover the domain itself');
    assert.match(r.refusal('github.com', 22) ?? '', /port 22/);
    assert.equal(r.refusal('git.example.com', 8443), undefined);
    assert.notEqual(r.refusal('git.example.com', 443), undefined);
    assert.notEqual(r.refusal('evilgithub.com', 443), undefined);
    assert.notEqual(r.refusal('github.com.evil.org', 443), undefined);
    assert.match(r.refusal('140.82.112.3', 443) ?? '', /IP addresses/);
  });
  test('bad entries are explained', () => {
    assert.throws(() => parseAllowEntry('http://github.com'), /not a host name/);
    assert.throws(() => parseAllowEntry('10.0.0.1'), /not IP addresses/);
    assert.throws(() => parseAllowEntry('*'), /not a host name/);
    assert.throws(() => parseAllowEntry('localhost'), /not a host name/);
    assert.throws(() => parseAllowEntry('a.com:70000'), /port/);
  });
  test('none and model refuse everything, open nothing', () => {
    assert.match(new EgressRules('model').refusal('github.com', 443) ?? '', /"model"/);
    assert.match(new EgressRules('none').refusal('github.com', 443) ?? '', /"none"/);
    assert.equal(new EgressRules('open').refusal('anything.example', 1234), undefined);
  });
});

describe('egress proxy', () => {
  // A local server stands in for a public host at 127.0.0.2, the one address let through.
  let target: http.Server;
  let targetPort: number;
  const names: Record<string, string[]> = {
    'pkg.example.test': ['127.0.0.2'],
    'other.example.test': ['127.0.0.2'],
    'rebind.example.test': ['93.184.216.34', '127.0.0.1'],
    'metadata.google.internal': ['169.254.169.254'],
    localhost: ['127.0.0.1'],
  };
  const lookup: Lookup = async (host) => {
    const a = names[host];
    if (a === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: 4 }));
  };
  const proxies: EgressProxy[] = [];
  const events: EgressEvent[] = [];

  async function proxyFor(policy: EgressPolicy): Promise<URL> {
    const p = new EgressProxy({ lookup, addresses: new AddressPolicy({ exceptions: ['127.0.0.2'] }), onEvent: (e) => events.push(e) });
    proxies.push(p);
    return new URL(await p.listen('127.0.0.1', 0, { sandboxId: 'sbx-e', task: 'task-egress', namespace: 'default', policy }));
  }

  function connect(proxy: URL, authority: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ hostname: proxy.hostname, port: proxy.port, method: 'CONNECT', path: authority });
      req.on('connect', (res, socket, head) => {
        if (res.statusCode !== 200) {
          let body = head.toString();
          socket.on('data', (d: Buffer) => (body += d.toString()));
          socket.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          return;
        }
        // Speak HTTP through the tunnel to the target.
        socket.write(`GET /through-tunnel HTTP/1.1\r\nhost: ${authority}\r\nconnection: close\r\n\r\n`);
        let body = '';
        socket.on('data', (d: Buffer) => (body += d.toString()));
        socket.on('end', () => resolve({ status: 200, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    target = http.createServer((req, res) => res.end(`target saw ${req.method} ${req.url} host=${req.headers.host}`));
    await new Promise<void>((r) => target.listen(0, '127.0.0.2', r));
    targetPort = (target.address() as AddressInfo).port;
  });
  after(async () => {
    for (const p of proxies) await p.close();
    target.closeAllConnections();
    await new Promise((r) => target.close(r));
  });

  test('an allow-listed host is reached through CONNECT', async () => {
    const proxy = await proxyFor({ allow: [`pkg.example.test:${targetPort}`] });
    const r = await connect(proxy, `pkg.example.test:${targetPort}`);
    assert.equal(r.status, 200);
    assert.match(r.body, /target saw GET \/through-tunnel/);
  });

  test('a host not on the allow-list is refused, logged with the task id', async () => {
    const proxy = await proxyFor({ allow: [`pkg.example.test:${targetPort}`] });
    const r = await connect(proxy, `other.example.test:${targetPort}`);
    assert.equal(r.status, 403);
    assert.match(r.body, /other\.example\.test is not on this task's allow-list/);
    const e = events.filter((x) => x.type === 'refused').at(-1);
    assert.equal(e?.type === 'refused' && e.task, 'task-egress');
    assert.equal(e?.type === 'refused' && e.reason, 'policy');
  });

  test('with "open", private, loopback, link-local and metadata addresses are still refused', async () => {
    const proxy = await proxyFor('open');
    for (const authority of [
      '10.0.0.1:443',
      '127.0.0.1:7233',
      '169.254.169.254:80',
      '[::1]:22',
      'localhost:9464',
      'metadata.google.internal:80',
      'rebind.example.test:443',
    ]) {
      const r = await connect(proxy, authority);
      assert.equal(r.status, 403, authority);
      assert.match(r.body, /may never reach/, authority);
    }
    const reasons = events.filter((e) => e.type === 'refused' && e.reason === 'forbidden-address');
    assert.ok(reasons.length >= 7);
  });

  test('plain HTTP through the proxy, and the same checks', async () => {
    const proxy = await proxyFor({ allow: [`pkg.example.test:${targetPort}`] });
    const get = (url: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ hostname: proxy.hostname, port: proxy.port, path: url, agent: false }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
    const ok = await get(`http://pkg.example.test:${targetPort}/plain?x=1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, `target saw GET /plain?x=1 host=pkg.example.test:${targetPort}`);
    assert.equal((await get(`http://other.example.test:${targetPort}/`)).status, 403);
  });

  test('"model" refuses everything', async () => {
    const proxy = await proxyFor('model');
    assert.equal((await connect(proxy, `pkg.example.test:${targetPort}`)).status, 403);
  });
});
