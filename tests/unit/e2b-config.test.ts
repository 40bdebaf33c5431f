/** Worker configuration for E2B: the key turns the provider on; asking for e2b without it fails early. */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { loadWorkerConfig } from '../../src/worker/index.js';
import { E2BSandboxProvider } from '../../src/sandbox/e2b/index.js';
import { buildProviders } from '../../src/worker/index.js';

const base = { CCFLOW_HOME: '/nonexistent/ccflow-home', CCFLOW_MODEL_PROXY_URL: 'https://proxy.example.com' };

test('without E2B_API_KEY the worker offers no e2b provider', async () => {
  const config = loadWorkerConfig({ ...base });
  assert.equal(config.e2b, undefined);
  assert.equal((await buildProviders(config)).e2b, undefined);
});

test('E2B_API_KEY adds the e2b provider, with the template and endpoints from the environment', async () => {
  const config = loadWorkerConfig({
    ...base,
    E2B_API_KEY: 'e2b_test',
    CCFLOW_E2B_TEMPLATE: 'ccflow-dev',
    E2B_API_URL: 'http://127.0.0.1:1',
    E2B_SANDBOX_URL: 'http://127.0.0.1:2',
  });
  assert.deepEqual(config.e2b, {
    apiKey: 'e2b_test',
    template: 'ccflow-dev',
    apiUrl: 'http://127.0.0.1:1',
    sandboxUrl: 'http://127.0.0.1:2',
    domain: undefined,
  });
  const provider = (await buildProviders(config)).e2b;
  assert.ok(provider instanceof E2BSandboxProvider);
  assert.equal(provider.template, 'ccflow-dev');
  assert.equal(loadWorkerConfig({ ...base, E2B_API_KEY: 'e2b_test' }).e2b?.template, 'ccflow');
});

test('CCFLOW_SANDBOX=e2b without E2B_API_KEY is refused at startup, saying what is missing', () => {
  assert.throws(() => loadWorkerConfig({ ...base, CCFLOW_SANDBOX: 'e2b' }), /CCFLOW_SANDBOX=e2b needs E2B_API_KEY/);
  assert.equal(loadWorkerConfig({ ...base, CCFLOW_SANDBOX: 'e2b', E2B_API_KEY: 'k' }).defaultProvider, 'e2b');
});

test('E2B without a model proxy URL is refused at start unless passing the key is asked for', () => {
  const noProxy = { CCFLOW_HOME: '/nonexistent/ccflow-home', E2B_API_KEY: 'k' };
  assert.throws(() => loadWorkerConfig(noProxy), /set CCFLOW_MODEL_PROXY_URL .* or set CCFLOW_E2B_PASS_MODEL_KEY=1/);
  assert.equal(loadWorkerConfig({ ...noProxy, CCFLOW_E2B_PASS_MODEL_KEY: '1' }).security.e2bPassModelKey, true);
  assert.throws(() => loadWorkerConfig({ ...noProxy, CCFLOW_MODEL_PROXY_URL: 'proxy:8443' }), /must be an http\(s\) URL/);
});

test('sandbox policy settings: caps, defaults and the network cap', () => {
  const c = loadWorkerConfig({
    CCFLOW_HOME: '/nonexistent/ccflow-home',
    CCFLOW_NETWORK_MAX: 'allow',
    CCFLOW_SANDBOX_MEMORY_MIB: '2048',
    CCFLOW_SANDBOX_MAX_MEMORY_MIB: '8192',
    CCFLOW_SANDBOX_MAX_CPUS: '2',
  }).security;
  assert.equal(c.networkMax, 'allow');
  assert.deepEqual(c.defaults, { memoryMiB: 2048, processes: 512, diskMiB: 10_240 });
  assert.deepEqual(c.caps, { memoryMiB: 8192, processes: 4096, diskMiB: 102_400, cpus: 2 });
  assert.throws(
    () => loadWorkerConfig({ CCFLOW_HOME: '/x', CCFLOW_NETWORK_MAX: 'everything' }),
    /CCFLOW_NETWORK_MAX must be one of none, model, allow, open/,
  );
  assert.throws(
    () => loadWorkerConfig({ CCFLOW_HOME: '/x', CCFLOW_SANDBOX_MEMORY_MIB: '9000', CCFLOW_SANDBOX_MAX_MEMORY_MIB: '8192' }),
    /over its cap/,
  );
  assert.equal(loadWorkerConfig({ CCFLOW_HOME: '/x' }).metricsHost, '127.0.0.1');
});
