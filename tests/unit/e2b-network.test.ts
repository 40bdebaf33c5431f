import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';

import { Sandbox } from 'e2b';

import { e2bNetworkOptions, E2BPolicyError, modelEndpointEntries } from '../../src/sandbox/e2b/network.js';

describe('E2B network options', () => {
  const model = ['proxy.example.com'];

  test('none: only the model endpoint (where a sandbox without a credential is refused at once), or no internet at all', () => {
    assert.deepEqual(e2bNetworkOptions('none', model), { network: { allowOut: ['proxy.example.com'], denyOut: ['0.0.0.0/0'] } });
    assert.deepEqual(e2bNetworkOptions('none', []), { allowInternetAccess: false });
  });

  test('model: only the model endpoint, everything else denied', () => {
    assert.deepEqual(e2bNetworkOptions('model', model), { network: { allowOut: ['proxy.example.com'], denyOut: ['0.0.0.0/0'] } });
  });

  test('allow-list: the endpoint and the listed domains; other ports cannot be expressed', () => {
    assert.deepEqual(e2bNetworkOptions({ allow: ['registry.npmjs.org', '*.pypi.org', 'github.com:443'] }, model), {
      network: { allowOut: ['proxy.example.com', 'registry.npmjs.org', '*.pypi.org', 'github.com'], denyOut: ['0.0.0.0/0'] },
    });
    assert.throws(
      () => e2bNetworkOptions({ allow: ['github.com', 'git.example.com:8443'] }, model),
      (err: unknown) => err instanceof E2BPolicyError && err.field === 'network.allow[1]' && /ports 80 and 443/.test(err.message),
    );
  });

  test('open: everything but private, link-local and metadata ranges', () => {
    const o = e2bNetworkOptions('open', model);
    const deny = o.network?.denyOut as string[];
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10', '127.0.0.0/8'])
      assert.ok(deny.includes(cidr), cidr);
    assert.equal(o.network?.allowOut, undefined);
  });

  test('a model endpoint on an odd port is allowed by address too', () => {
    assert.deepEqual(modelEndpointEntries('https://proxy.example.com/v1', ['203.0.113.7']), ['proxy.example.com']);
    assert.deepEqual(modelEndpointEntries('https://proxy.example.com:8443', ['198.51.100.7']), ['proxy.example.com', '198.51.100.7']);
  });

  test('what the pinned SDK sends on the wire', async () => {
    const bodies: unknown[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(body || 'null'));
        // Refuse: only the request matters here.
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 400, message: 'captured' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await assert.rejects(Sandbox.create('ccflow', { apiKey: 'e2b_x', apiUrl, ...e2bNetworkOptions({ allow: ['*.pypi.org'] }, model) }));
      await assert.rejects(Sandbox.create('ccflow', { apiKey: 'e2b_x', apiUrl, ...e2bNetworkOptions('none', []) }));
      const [allow, none] = bodies as Array<Record<string, unknown>>;
      assert.deepEqual(allow?.['network'], { allowOut: ['proxy.example.com', '*.pypi.org'], denyOut: ['0.0.0.0/0'] });
      assert.equal(none?.['allow_internet_access'], false);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
