/** Worker settings for scaling out: the artifact store, the host start bound, the sweeper; and the agent slots. */
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { AgentSlots } from '../../src/activities/agent-slots.js';
import { LocalArtifactStore } from '../../src/artifacts/local.js';
import { S3ArtifactStore } from '../../src/artifacts/s3.js';
import type { Client } from '@temporalio/client';
import type { SandboxProvider } from '../../src/sandbox/types.js';
import { buildWorkerServices, loadWorkerConfig, startSweeper } from '../../src/worker/index.js';

// A home of its own: the worker's services keep their proxy state there.
const home = mkdtempSync(path.join(os.tmpdir(), 'ccflow-scale-config-'));
after(() => rmSync(home, { recursive: true, force: true }));
const base = { CCFLOW_HOME: home, ANTHROPIC_API_KEY: 'k' };

test('one machine by default: the local artifact directory, a 60 s host bound, a sweep every 10 minutes', async () => {
  const config = loadWorkerConfig(base);
  assert.deepEqual(config.artifacts, { kind: 'local', dir: path.join(home, 'artifacts') });
  assert.equal(config.hostStartTimeoutSeconds, 60);
  assert.equal(config.sweepIntervalSeconds, 600);
  assert.equal(config.sweepGraceSeconds, 900);
  const services = await buildWorkerServices(config);
  try {
    const deps = services.deps;
    assert.ok(deps.artifacts instanceof LocalArtifactStore);
    assert.equal(deps.hostStartTimeoutSeconds, 60);
    assert.equal(deps.maxConcurrentAgents, 8);
  } finally {
    await services.close();
  }
});

test('CCFLOW_ARTIFACTS=s3://... gives the worker the S3 store; its secret shows nowhere in the config', async () => {
  const config = loadWorkerConfig({
    ...base,
    CCFLOW_ARTIFACTS: 's3://ccflow/prod',
    CCFLOW_S3_ENDPOINT: 'http://seaweedfs:8333',
    AWS_ACCESS_KEY_ID: 'AKID',
    AWS_SECRET_ACCESS_KEY: 'top-secret-value',
    CCFLOW_HOST_START_TIMEOUT_SECONDS: '30',
    CCFLOW_SWEEP_INTERVAL_SECONDS: '0',
  });
  assert.equal(config.artifacts.kind, 's3');
  assert.equal(config.hostStartTimeoutSeconds, 30);
  assert.equal(config.sweepIntervalSeconds, 0);
  assert.doesNotMatch(JSON.stringify(config), /top-secret-value/);
  assert.doesNotMatch(inspect(config, { depth: 10 }), /top-secret-value/);
  const services = await buildWorkerServices(config);
  try {
    const deps = services.deps;
    assert.ok(deps.artifacts instanceof S3ArtifactStore);
    assert.equal(deps.artifacts.location({ namespace: 'default', workflowId: 'task-1' }), 's3://ccflow/prod/default/task-1/');
    deps.artifacts.close();
  } finally {
    await services.close();
  }
});

test('bad scale-out settings are refused at start, naming the variable', () => {
  assert.throws(
    () => loadWorkerConfig({ ...base, CCFLOW_HOST_START_TIMEOUT_SECONDS: '0' }),
    /CCFLOW_HOST_START_TIMEOUT_SECONDS must be a positive integer/,
  );
  assert.throws(
    () => loadWorkerConfig({ ...base, CCFLOW_SWEEP_GRACE_SECONDS: '-1' }),
    /CCFLOW_SWEEP_GRACE_SECONDS must be a non-negative integer/,
  );
  assert.throws(() => loadWorkerConfig({ ...base, CCFLOW_ARTIFACTS: 's3://x' }), /not a valid bucket name/);
});

test('agent slots: runs past the cap wait in line, heartbeating, and take freed slots in order', async () => {
  const slots = new AgentSlots(2);
  const signal = new AbortController().signal;
  let beats = 0;
  const a = await slots.acquire({ signal, onWait: () => beats++, intervalMs: 5 });
  const b = await slots.acquire({ signal, onWait: () => beats++, intervalMs: 5 });
  assert.equal(slots.inUse, 2);
  const order: string[] = [];
  const c = slots.acquire({ signal, onWait: () => beats++, intervalMs: 5 }).then((r) => (order.push('c'), r));
  const d = slots.acquire({ signal, onWait: () => beats++, intervalMs: 5 }).then((r) => (order.push('d'), r));
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(beats > 0, 'a waiting run heartbeats');
  assert.deepEqual(order, []);
  a();
  a(); // releasing twice frees one slot only
  const releaseC = await c;
  assert.deepEqual(order, ['c']);
  assert.equal(slots.inUse, 2);
  b();
  (await d)();
  releaseC();
  assert.equal(slots.inUse, 0);
});

test('agent slots: a cancelled run leaves the line', async () => {
  const slots = new AgentSlots(1);
  const release = await slots.acquire({ signal: new AbortController().signal, onWait: () => undefined, intervalMs: 5 });
  const abort = new AbortController();
  const waiting = slots.acquire({ signal: abort.signal, onWait: () => undefined, intervalMs: 5 });
  abort.abort(new Error('cancelled'));
  await assert.rejects(waiting, /cancelled/);
  release();
  assert.equal(slots.inUse, 0, 'the cancelled run took no slot');
});

test('the sweeper sweeps at once, never two sweeps at a time, reports failures, and stops', async () => {
  let lists = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const pending: Array<() => void> = [];
  const finishAll = () => pending.splice(0).forEach((f) => f());
  const provider = {
    name: 'local',
    list: () => {
      lists += 1;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<[]>((resolve) =>
        pending.push(() => {
          inFlight -= 1;
          resolve([]);
        }),
      );
    },
  } as unknown as SandboxProvider;
  const reports: Array<{ decisions: number; err?: unknown }> = [];
  const sweeper = startSweeper({
    providers: [provider],
    client: {} as Client,
    intervalMs: 2,
    report: (decisions, err) => reports.push({ decisions: decisions.length, err }),
  });
  assert.equal(lists, 1, 'the first sweep starts at once');
  // Many ticks pass while the first sweep hangs: none starts another, then or later.
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(lists, 1);
  finishAll();
  await new Promise((r) => setTimeout(r, 40));
  assert.ok(lists >= 2, 'a later tick sweeps again');
  assert.equal(maxInFlight, 1, 'one sweep at a time');
  assert.deepEqual(reports[0], { decisions: 0, err: undefined });
  finishAll();
  await sweeper.stop();
  const after = lists;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(lists, after, 'no sweep after stop');

  // A failing sweep is reported, and does not throw.
  const failing = { name: 'local', list: () => Promise.reject(new Error('disk gone')) } as unknown as SandboxProvider;
  const errors: unknown[] = [];
  const s2 = startSweeper({ providers: [failing], client: {} as Client, intervalMs: 60_000, report: (_d, err) => errors.push(err) });
  await s2.stop();
  assert.match(String(errors[0]), /disk gone/);
});
