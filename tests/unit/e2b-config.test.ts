/** Worker configuration for E2B: the key turns the provider on; asking for e2b without it fails early. */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { loadWorkerConfig } from '../../src/worker/index.js';
import { E2BSandboxProvider } from '../../src/sandbox/e2b/index.js';
import { buildProviders } from '../../src/worker/index.js';

const base = { CCFLOW_HOME: '/nonexistent/ccflow-home' };

test('without E2B_API_KEY the worker offers no e2b provider', () => {
  const config = loadWorkerConfig({ ...base });
  assert.equal(config.e2b, undefined);
  assert.equal(buildProviders(config).e2b, undefined);
});

test('E2B_API_KEY adds the e2b provider, with the template and endpoints from the environment', () => {
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
  const provider = buildProviders(config).e2b;
  assert.ok(provider instanceof E2BSandboxProvider);
  assert.equal(provider.template, 'ccflow-dev');
  assert.equal(loadWorkerConfig({ ...base, E2B_API_KEY: 'e2b_test' }).e2b?.template, 'ccflow');
});

test('CCFLOW_SANDBOX=e2b without E2B_API_KEY is refused at startup, saying what is missing', () => {
  assert.throws(() => loadWorkerConfig({ ...base, CCFLOW_SANDBOX: 'e2b' }), /CCFLOW_SANDBOX=e2b needs E2B_API_KEY/);
  assert.equal(loadWorkerConfig({ ...base, CCFLOW_SANDBOX: 'e2b', E2B_API_KEY: 'k' }).defaultProvider, 'e2b');
});
