/**
 * The worker's Prometheus endpoint and JSON logs after a real end-to-end task: Temporal's
 * runtime metrics and ccflow's own (tasks, agent runs, tokens, cost, sandbox latency) move,
 * and log lines carry workflow and activity ids. The runtime is installed once per process,
 * before the harness connects, exactly as `ccflow worker` does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/testing/dev-server.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { installRuntime } from '../../src/worker/telemetry.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const script = {
  conversations: [
    {
      steps: [
        { text: 'Listing the workspace.', toolUse: [{ name: 'Bash', input: { command: 'ls' } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary: 'listed it' } }] },
        { text: 'Done.' },
      ],
    },
  ],
};

/** `name{labels} value` lines of a Prometheus text page, as name+labels → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels contain all of `labels` (`k="v"` pairs). */
function total(metrics: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [series, value] of metrics) {
    const base = series.split('{')[0];
    if (base === name && labels.every((l) => series.includes(l))) sum += value;
  }
  return sum;
}

describe('worker metrics and logs', () => {
  let h: Harness;
  let metricsUrl: string;
  const logs: string[] = [];

  before(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    installRuntime({ metricsPort: port, metricsHost: '127.0.0.1', logFormat: 'json', logLevel: 'INFO', write: (line) => logs.push(line) });
    h = await startHarness({ script });
    await h.startWorker();
  });
  after(async () => {
    await h?.close();
  });

  const scrape = async () => parseMetrics(await (await fetch(metricsUrl)).text());

  test('a scrape after an end-to-end task shows the counters moved', async () => {
    const beforeTask = await scrape();
    assert.equal(total(beforeTask, 'ccflow_tasks_succeeded_total'), 0);
    assert.equal(total(beforeTask, 'ccflow_agent_runs_total'), 0);

    const handle = await h.client.workflow.start('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'metrics-1',
      args: [{ prompt: 'List the workspace.' }],
    });
    const result = (await handle.result()) as TaskResult;

    // Workflow metrics leave the workflow sandbox after its activation completes: bounded wait.
    let m = await scrape();
    for (const deadline = Date.now() + 30_000; total(m, 'ccflow_tasks_succeeded_total') < 1 && Date.now() < deadline;) {
      await sleep(200);
      m = await scrape();
    }
    assert.equal(total(m, 'ccflow_tasks_started_total', 'workflowType="agentTask"'), 1);
    assert.equal(total(m, 'ccflow_tasks_succeeded_total', 'workflowType="agentTask"'), 1);
    assert.equal(total(m, 'ccflow_tasks_failed_total'), 0);
    assert.equal(total(m, 'ccflow_agent_runs_total', 'outcome="success"'), 1);
    assert.equal(total(m, 'ccflow_agents_running'), 0);
    assert.ok(total(m, 'ccflow_tokens_total', 'kind="input"') > 0);
    assert.ok(total(m, 'ccflow_tokens_total', 'kind="output"') > 0);
    // The cost histogram's sum is what the task reported.
    assert.ok(
      Math.abs(total(m, 'ccflow_agent_run_cost_usd_sum') - result.totalCostUsd) < 1e-9,
      `cost ${total(m, 'ccflow_agent_run_cost_usd_sum')} vs ${result.totalCostUsd}`,
    );
    assert.equal(total(m, 'ccflow_sandbox_create_latency_ms_count', 'provider="local"'), 1);
    assert.equal(total(m, 'ccflow_sandbox_destroy_latency_ms_count', 'provider="local"'), 1);
    assert.ok(total(m, 'ccflow_sandbox_create_latency_ms_sum') > 0);
    // Temporal's own runtime metrics are on the same endpoint.
    assert.ok(total(m, 'temporal_workflow_completed') >= 1, 'temporal_workflow_completed');
    assert.ok(total(m, 'temporal_activity_execution_latency_count') >= 3, 'temporal_activity_execution_latency');
  });

  test('logs are JSON lines carrying workflow and activity ids, and no API key', async () => {
    // The runtime logger orders lines from the SDK core and from JS by time, with a short buffer.
    for (const deadline = Date.now() + 15_000; !logs.some((l) => l.includes('"msg":"task succeeded"')) && Date.now() < deadline;)
      await sleep(100);
    const entries = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const e of entries) {
      assert.equal(typeof e.time, 'string');
      assert.equal(typeof e.level, 'string');
      assert.equal(typeof e.msg, 'string');
    }
    const created = entries.find((e) => e.msg === 'sandbox created' && e.workflowId === 'metrics-1');
    assert.ok(created, `no "sandbox created" line for metrics-1 in:\n${logs.join('\n')}`);
    assert.equal(created.activityType, 'createSandbox');
    assert.equal(typeof created.activityId, 'string');
    assert.match(String(created.sandboxId), /\S/);
    const finished = entries.find((e) => e.msg === 'task succeeded' && e.workflowId === 'metrics-1');
    assert.ok(finished, `the workflow logs its outcome with its id:\n${logs.join('\n')}`);
    assert.equal(finished.sdkComponent, 'workflow');
    assert.equal(finished.workflowType, 'agentTask');
    assert.ok(Number(finished.costUsd) > 0);
    assert.ok(!logs.some((l) => l.includes(h.apiKey)));
    assert.ok(!entries.some((e) => 'taskToken' in e), 'activity task tokens stay out of logs');
  });
});
