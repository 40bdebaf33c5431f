/**
 * The escape suite, E2B provider: the same scripted attacker, driven by the real claude CLI, in
 * sandboxes of the E2B test double, which models E2B's firewall (a network of the sandbox's
 * own, where only the public hosts its policy allows answer; here, the model proxy). The
 * checks that make sense for E2B: the key is never in the sandbox, the worker's ports and other
 * sandboxes are out of reach whatever the policy, and `none` ends at once. Limits are the VM's
 * (E2B sizes it) and domain allow-lists are E2B's to enforce: neither is modelled by the double.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';

import { parseScript } from '../../src/testing/model/index.js';
import { e2bProviderFactory } from '../e2b-server/fixtures.js';
import { processesWithKey, startHarness, type Harness } from '../helpers/harness.js';
import { attempt, bash, failingTask, hostService, runTask, seenBy, submit, tcpProbe } from './helpers.js';

const lan = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
const OTHER_SANDBOX_PORT = 47_777;

let h: Harness;
let metrics: Awaited<ReturnType<typeof hostService>>;
let temporalPort: number;
let modelPort: number;
let proxyPort: number;

before(async () => {
  metrics = await hostService();
  h = await startHarness({ script: { conversations: [{ steps: [{ text: 'placeholder' }] }] }, providerFactory: e2bProviderFactory() });
  await h.startWorker();
  temporalPort = Number(h.server.address.split(':').at(-1));
  modelPort = Number(new URL(h.model.url).port);
  proxyPort = Number(new URL(h.security.modelProxyTcpUrl).port);
  const probeTargets: Array<[string, number]> = [
    // The one public host: the probe can connect, so a refusal below is the firewall's.
    ['127.0.0.1', proxyPort],
    ['127.0.0.1', temporalPort],
    ['127.0.0.1', metrics.port],
    ['127.0.0.1', modelPort],
    ['127.0.0.1', OTHER_SANDBOX_PORT],
    ...(lan
      ? ([
          [lan, temporalPort],
          [lan, metrics.port],
        ] as Array<[string, number]>)
      : []),
  ];
  h.model.setScript(
    parseScript({
      conversations: [
        attempt('key', [
          'printenv | sort',
          "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < \"$f\" 2>/dev/null; done | sort -u",
          'ls -laR /opt/ccflow 2>&1 | head -40; cat ~/.ccflow/mcp.json; grep -r -a -h -o -E "sk-[A-Za-z0-9_-]{8,}" /opt/ccflow ~ /tmp /etc 2>/dev/null | sort -u | head -20',
        ]),
        {
          name: 'listener',
          match: '\\[listener\\]',
          steps: [
            bash(
              `nohup /opt/ccflow/bin/node -e "require('net').createServer(c => c.end('other sandbox')).listen(${OTHER_SANDBOX_PORT}, '0.0.0.0')" >/dev/null 2>&1 & sleep 1; echo listening`,
            ),
            // Stays up (the model is slow to answer) while the other sandbox probes it.
            { delayMs: 15_000, delayTimes: 1, ...submit('listened') },
            { text: 'Done.' },
          ],
        },
        attempt('connect', [tcpProbe(probeTargets)]),
        attempt('open', [tcpProbe(probeTargets)]),
      ],
    }),
  );
});

after(async () => {
  await h?.close();
  await metrics?.close();
});

describe('escapes (E2B): the model key', () => {
  test('is nowhere in the sandbox: env, /proc/*/environ, /opt/ccflow, HOME, the MCP config; its token dies with the sandbox', async () => {
    await runTask(h, 'e2b-esc-key', { prompt: '[key] Find the API key.' });
    const seen = seenBy(h, 'key');
    assert.match(seen, /ANTHROPIC_API_KEY=ccflow-sbx\./, 'the probes ran and printed the environment');
    assert.match(seen, /mcpServers/, 'and the MCP config');
    assert.ok(!seen.includes(h.apiKey), 'the real key is in nothing the agent could read');
    assert.deepEqual(await processesWithKey(h.apiKey), []);

    const token = /ANTHROPIC_API_KEY=(ccflow-sbx\.[A-Za-z0-9_.-]+)/.exec(seen)?.[1] ?? '';
    const res = await fetch(`${h.security.modelProxyTcpUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /torn down/);
  });
});

describe('escapes (E2B): the network', () => {
  /** What the probe saw: the proxy answers, everything else on the host and in other sandboxes is refused. */
  function assertOnlyTheProxy(seen: string): void {
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${proxyPort} -> CONNECTED`), 'the model proxy, the one public host');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${temporalPort} -> ECONNREFUSED`), 'Temporal');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${metrics.port} -> ECONNREFUSED`), 'the metrics port');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${modelPort} -> ECONNREFUSED`), 'the model upstream, bypassing the proxy');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${OTHER_SANDBOX_PORT} -> ECONNREFUSED`), "another sandbox's port");
    if (lan) {
      const at = lan.replace(/\./g, '\\.');
      assert.match(seen, new RegExp(`${at}:${temporalPort} -> ENETUNREACH`), 'Temporal through the host LAN address');
      assert.match(seen, new RegExp(`${at}:${metrics.port} -> ENETUNREACH`), 'metrics through the host LAN address');
    }
    assert.equal(seen.match(/CONNECTED/g)?.length, 1, seen);
  }

  test("Temporal, metrics, the model upstream and another sandbox's port are unreachable; the proxy is not", async () => {
    const listener = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'e2b-esc-listener',
      args: [{ prompt: '[listener] Listen on a port.', timeouts: { heartbeatSeconds: 5 } }],
    });
    // The other sandbox listens once its first tool call is answered.
    for (
      let i = 0;
      i < 600 && !h.model.requests.some((r) => !r.side && r.stepIndex === 1 && String(JSON.stringify(r.body)).includes('[listener]'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await runTask(h, 'e2b-esc-connect', { prompt: '[connect] Reach the worker.' });
    await listener.result();
    assertOnlyTheProxy(seenBy(h, 'connect'));
  });

  test('"open" reaches no more of the worker', async () => {
    await runTask(h, 'e2b-esc-open', { prompt: '[open] Reach inside.', network: 'open' });
    assertOnlyTheProxy(seenBy(h, 'open'));
  });

  test('"none" ends at once as InvalidTaskSpec naming the field, the agent holding no credential', async () => {
    const r = await failingTask(h, 'e2b-esc-none', { prompt: '[none] Anything.', network: 'none' });
    assert.equal(r.type, 'InvalidTaskSpec', r.message);
    assert.match(r.message, /network: "none"/);
    assert.ok(
      h.proxyLog.some((l) => l.includes('model proxy refused a request') && l.includes('"reason":"malformed"')),
      `the sandbox reached the proxy, which refused its non-token:\n${h.proxyLog.join('\n')}`,
    );
  });
});
