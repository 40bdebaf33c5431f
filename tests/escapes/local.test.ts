/**
 * The escape suite, local provider: a scripted agent in a real bubblewrap jail, driven by the
 * real claude CLI, tries to get out with plain Bash (and the sandbox's node). Each test
 * asserts that the attempt failed — on what the agent itself saw, the tool output the CLI
 * sent back to the model — and that the task still ended cleanly.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';

import { AddressPolicy } from '../../src/proxy/address-policy.js';
import type { TaskResult, TaskSpecInput } from '../../src/schemas/task-spec.js';
import { parseScript } from '../../src/testing/model/index.js';
import { processesWithKey, startHarness, type Harness } from '../helpers/harness.js';
import { attempt, bash, connectProbe, failingTask, hostService, runTask, seenBy, submit, tcpProbe } from './helpers.js';

const quick = { heartbeatSeconds: 5 };
const lan = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

let h: Harness;
let metrics: Awaited<ReturnType<typeof hostService>>;
/** Stands in for a public host the allow-list names: listens on 127.0.0.2, the one address let through. */
let pkgHost: http.Server;
let pkgPort: number;
let temporalPort: number;
let modelPort: number;

const run = (id: string, spec: TaskSpecInput): Promise<TaskResult> => runTask(h, id, spec);
const fails = (id: string, spec: TaskSpecInput) => failingTask(h, id, spec);

before(async () => {
  metrics = await hostService();
  pkgHost = http.createServer((_q, r) => r.end('package registry'));
  await new Promise<void>((r) => pkgHost.listen(0, '127.0.0.2', r));
  pkgPort = (pkgHost.address() as AddressInfo).port;
  const names: Record<string, string> = { 'metadata.google.internal': '169.254.169.254', localhost: '127.0.0.1' };
  h = await startHarness({
    script: { conversations: [{ steps: [{ text: 'placeholder' }] }] },
    security: {
      egress: {
        // Names resolve as a test network says: *.example.test is the stand-in public host.
        lookup: async (host) => {
          if (host.endsWith('.example.test')) return [{ address: '127.0.0.2', family: 4 }];
          const a = names[host];
          if (a === undefined) throw Object.assign(new Error(`${host}: not found`), { code: 'ENOTFOUND' });
          return [{ address: a, family: 4 }];
        },
        addresses: new AddressPolicy({ exceptions: ['127.0.0.2'] }),
      },
    },
  });
  await h.startWorker();
  temporalPort = Number(h.server.address.split(':').at(-1));
  modelPort = Number(new URL(h.model.url).port);
  const probeTargets: Array<[string, number]> = [
    ['127.0.0.1', temporalPort],
    ['127.0.0.1', metrics.port],
    ['127.0.0.1', modelPort],
    ['127.0.0.1', 47_777],
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
          'ls -laR /opt/ccflow /run/ccflow 2>&1 | head -40; cat ~/.ccflow/mcp.json; grep -r -a -h -o -E "sk-[A-Za-z0-9_-]{8,}" /opt/ccflow ~ /tmp /etc 2>/dev/null | sort -u | head -20',
        ]),
        {
          name: 'listener',
          match: '\\[listener\\]',
          steps: [
            bash(
              "nohup /opt/ccflow/bin/node -e \"require('net').createServer(c => c.end('other sandbox')).listen(47777, '0.0.0.0')\" >/dev/null 2>&1 & sleep 1; echo listening",
            ),
            // Stays up (the model is slow to answer) while the other sandbox probes it.
            { delayMs: 15_000, delayTimes: 1, ...submit('listened') },
            { text: 'Done.' },
          ],
        },
        attempt('connect', [tcpProbe(probeTargets)]),
        attempt('allow-list', [
          connectProbe([`pkg.example.test:${pkgPort}`, `other.example.test:${pkgPort}`, 'github.com:443', `pkg.example.test:22`]),
          tcpProbe([['127.0.0.2', pkgPort]]),
        ]),
        attempt('open', [
          connectProbe([
            '10.0.0.1:443',
            '169.254.169.254:80',
            `127.0.0.1:${temporalPort}`,
            'localhost:22',
            'metadata.google.internal:80',
            '[::1]:22',
          ]),
        ]),
        attempt('fork-bomb', ['f(){ f | f & }; f; sleep 60']),
        attempt('alloc', ['python3 -c "s = b\'x\' * (10 * 1024**3); print(len(s))"']),
        attempt('fill-disk', ['dd if=/dev/zero of=/home/user/workspace/fill bs=1M count=1024; sync; df -h /home/user']),
        attempt('bystander', ['echo working; sleep 2; echo done']),
        {
          name: 'big-result',
          match: '\\[big-result\\]',
          steps: [
            submit('first'),
            bash('truncate -s 2G /home/user/.ccflow/result.json && ls -la /home/user/.ccflow/result.json'),
            { text: 'Done.' },
            submit('resubmitted after the big file'),
            { text: 'Done again.' },
          ],
        },
        {
          name: 'symlink-result',
          match: '\\[symlink-result\\]',
          steps: [
            submit('first'),
            bash('ln -sf /etc/hostname /home/user/.ccflow/result.json && ls -la /home/user/.ccflow/'),
            { text: 'Done.' },
            submit('resubmitted after the symlink'),
            { text: 'Done again.' },
          ],
        },
        {
          name: 'forge-exit',
          match: '\\[forge-exit\\]',
          steps: [
            bash('echo 0 > /home/user/.ccflow/runs/run-1/a1/exit-code; echo forged'),
            // The agent is still running well after its forgery: the model takes its time.
            { delayMs: 4_000, delayTimes: 1, ...submit('finished after the forgery') },
            { text: 'Done.' },
          ],
        },
        { name: 'tenant', match: '\\[tenant', steps: [submit('tenant work'), { text: 'Done.' }] },
      ],
    }),
  );
});

after(async () => {
  await h?.close();
  await metrics?.close();
  pkgHost?.closeAllConnections();
  await new Promise((r) => pkgHost?.close(r));
});

describe('escapes: the model key', () => {
  test('is nowhere in the sandbox: env, /proc/*/environ, /opt/ccflow, HOME, the MCP config; its token dies with the sandbox', async () => {
    await run('esc-key', { prompt: '[key] Find the API key.' });
    const seen = seenBy(h, 'key');
    assert.match(seen, /ANTHROPIC_API_KEY=ccflow-sbx\./, 'the probes ran and printed the environment');
    assert.match(seen, /mcpServers/, 'and the MCP config');
    assert.ok(!seen.includes(h.apiKey), 'the real key is in nothing the agent could read');
    assert.deepEqual(await processesWithKey(h.apiKey), []);

    // The token the agent saw is worth nothing once the sandbox is gone.
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

describe('escapes: the network', () => {
  test("Temporal, metrics, the model upstream, another sandbox's port and every host port are unreachable", async () => {
    const listener = h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'esc-listener',
      args: [{ prompt: '[listener] Listen on a port.', timeouts: quick }],
    });
    const handle = await listener;
    // The other sandbox listens once its first tool call is answered.
    for (
      let i = 0;
      i < 600 && !h.model.requests.some((r) => !r.side && r.stepIndex === 1 && String(JSON.stringify(r.body)).includes('[listener]'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await run('esc-connect', { prompt: '[connect] Reach the worker.' });
    await handle.result();
    const seen = seenBy(h, 'connect');
    assert.doesNotMatch(seen, /CONNECTED/);
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${temporalPort} -> ECONNREFUSED`), 'Temporal');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${metrics.port} -> ECONNREFUSED`), 'the metrics port');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.1:${modelPort} -> ECONNREFUSED`), 'the model upstream, bypassing the proxy');
    assert.match(seen, /127\.0\.0\.1:47777 -> ECONNREFUSED/, "another sandbox's port");
    if (lan)
      assert.match(seen, new RegExp(`${lan.replace(/\./g, '\\.')}:${temporalPort} -> ENETUNREACH`), 'the host through its LAN address');
  });

  test('an allow-list lets through only its hosts, through the egress proxy', async () => {
    await run('esc-allow', { prompt: '[allow-list] Fetch packages.', network: { allow: [`pkg.example.test:${pkgPort}`] } });
    const seen = seenBy(h, 'allow-list');
    assert.match(seen, new RegExp(`pkg\\.example\\.test:${pkgPort} -> 200`), 'the listed host');
    assert.match(seen, new RegExp(`other\\.example\\.test:${pkgPort} -> 403`), 'a host not on the list');
    assert.match(seen, /github\.com:443 -> 403/);
    assert.match(seen, /pkg\.example\.test:22 -> 403/, 'another port of a listed host');
    assert.match(seen, new RegExp(`127\\.0\\.0\\.2:${pkgPort} -> ECONNREFUSED`), 'no way around the proxy');
    assert.ok(
      h.proxyLog.some((l) => l.includes('egress refused') && l.includes('esc-allow') && l.includes('other.example.test')),
      'the refusal is logged with the task id',
    );
  });

  test('"open" never reaches private, loopback, link-local or metadata addresses', async () => {
    await run('esc-open', { prompt: '[open] Reach inside.', network: 'open' });
    const seen = seenBy(h, 'open');
    for (const a of [
      '10.0.0.1:443',
      '169.254.169.254:80',
      `127.0.0.1:${temporalPort}`,
      'localhost:22',
      'metadata.google.internal:80',
      '[::1]:22',
    ]) {
      assert.match(seen, new RegExp(`${a.replace(/[.[\]]/g, '\\$&')} -> 403`), a);
    }
  });
});

describe('escapes: resources', () => {
  test('a fork bomb ends SandboxLimitExceeded (processes), and a task beside it finishes', async () => {
    const bystander = run('esc-bystander', { prompt: '[bystander] Do ordinary work.' });
    const bomb = await fails('esc-fork-bomb', { prompt: '[fork-bomb] Fork.', limits: { processes: 256 } });
    assert.equal(bomb.type, 'SandboxLimitExceeded', bomb.message);
    assert.match(bomb.message, /processes limit/);
    assert.deepEqual((await bystander).result, { summary: 'tried bystander' });
  });

  test('a 10 GiB allocation ends SandboxLimitExceeded (memory)', async () => {
    const r = await fails('esc-alloc', { prompt: '[alloc] Allocate.', limits: { memoryMiB: 768 } });
    assert.equal(r.type, 'SandboxLimitExceeded', r.message);
    assert.match(r.message, /memory limit/);
  });

  test('filling the disk past its limit ends SandboxLimitExceeded (disk)', async () => {
    const r = await fails('esc-disk', { prompt: '[fill-disk] Fill the disk.', limits: { diskMiB: 128 } });
    assert.equal(r.type, 'SandboxLimitExceeded', r.message);
    assert.match(r.message, /disk limit/);
    // Whether the agent still saw its ENOSPC is a race with the limit check that stops it
    // (the agent runs niced): what counts is that the limit ended the run.
  });
});

describe('escapes: the files ccflow reads', () => {
  test('a 2 GB result file is refused unread, and the agent is asked again', async () => {
    const result = await run('esc-big-result', { prompt: '[big-result] Submit, then grow the file.' });
    assert.deepEqual(result.result, { summary: 'resubmitted after the big file' });
    assert.equal(result.resultAttempts, 2);
    const status = (await h.client.workflow.getHandle('esc-big-result').query('status')) as { lastResultErrors?: string[] };
    assert.match(status.lastResultErrors?.join(' ') ?? '', /over the 1048576-byte limit/);
  });

  test('a result file that is a symlink to a host file is refused, not followed', async () => {
    const hostFile = (await readFile('/etc/hostname', 'utf8')).trim();
    const result = await run('esc-symlink', { prompt: '[symlink-result] Submit, then swap the file.' });
    assert.deepEqual(result.result, { summary: 'resubmitted after the symlink' });
    const status = (await h.client.workflow.getHandle('esc-symlink').query('status')) as { lastResultErrors?: string[] };
    assert.match(status.lastResultErrors?.join(' ') ?? '', /symlink/);
    const history = await h.client.workflow.getHandle('esc-symlink').fetchHistory();
    const decoded = (history.events ?? [])
      .flatMap((e) => [e.activityTaskCompletedEventAttributes?.result?.payloads ?? []].flat())
      .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'))
      .join('\n');
    if (hostFile.length >= 4) assert.ok(!decoded.includes(hostFile), 'the host file was not read');
  });

  test('a forged exit-code file written while the agent runs does not end the run', async () => {
    const result = await run('esc-forge', { prompt: '[forge-exit] Forge the exit code.' });
    assert.deepEqual(result.result, { summary: 'finished after the forgery' });
    assert.equal(result.resultAttempts, 1);
    const history = await h.client.workflow.getHandle('esc-forge').fetchHistory();
    const runs =
      history.events?.filter((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt !== 1) ?? [];
    assert.equal(runs.length, 0, 'no activity was retried');
  });
});

describe('escapes: other tasks', () => {
  test('workflow ids crafted to collide get directories of their own', async () => {
    const a = await run('esc/a', { prompt: '[tenant-a] Work.' });
    const b = await run('esc_a', { prompt: '[tenant-b] Work.' });
    assert.notEqual(a.artifactsDir, b.artifactsDir);
    const manifest = await h.artifacts.get({ namespace: 'default', workflowId: 'esc/a' }, 'session/session.json');
    assert.equal(JSON.parse(manifest?.toString() ?? '{}').sessionId, a.sessionId, "esc/a's saved session is its own");
  });

  test('continueFrom cannot reach a task of another namespace', async () => {
    // A task of another namespace saved its session in the store this worker shares.
    const victim = { namespace: 'other-tenant', workflowId: 'victim' };
    await h.artifacts.put(victim, 'session/session.json', JSON.stringify({ sessionId: '11111111-1111-1111-1111-111111111111', turn: 1 }));
    await h.artifacts.put(victim, 'session/11111111-1111-1111-1111-111111111111.jsonl', '{}\n');
    const r = await fails('esc-continue', { prompt: '[tenant-c] Continue.', continueFrom: { workflowId: 'victim' } });
    assert.equal(r.type, 'SessionNotFound', r.message);
    assert.match(r.message, /no saved session in namespace default/);
  });
});
