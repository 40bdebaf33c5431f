/**
 * The contract between ccflow and the pinned Claude Code CLI, read off a real task: what the
 * CLI sends the model when ccflow runs it. When the CLI pin changes, this file says what
 * changed. Real Temporal, real claude in bubblewrap, the scripted model recording requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { offeredTools, sessionIdOf, type RecordedRequest } from '../../src/testing/model/index.js';
import { SUBMIT_RESULT_TOOL, taskPromptText } from '../../src/domain/prompts.js';
import type { TaskResult } from '../../src/schemas/task-spec.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const resultSchema = {
  type: 'object',
  description: 'What the agent found.',
  properties: {
    summary: { type: 'string', description: 'One line.' },
    files: { type: 'array', items: { type: 'string' } },
    details: { type: 'object', properties: { lines: { type: 'integer' } } },
  },
  required: ['summary'],
};

/**
 * fastmcp (4.20) advertises every object level of a tool's schema with
 * `additionalProperties: false`. The model is told a stricter shape than ccflow validates,
 * so whatever follows the advertised schema also passes validation.
 */
function strictObjects(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = schema['properties'] as Record<string, Record<string, unknown>> | undefined;
  return {
    ...schema,
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(properties ?? {}).map(([k, v]) => [k, v['type'] === 'object' ? strictObjects(v) : v])),
  };
}

const script = {
  conversations: [
    {
      match: '\\[contract\\]',
      steps: [
        // Write is offered to every run but is not in this task's allowedTools.
        {
          text: 'Trying to write.',
          toolUse: [{ name: 'Write', input: { file_path: '/home/user/workspace/forbidden.txt', content: 'x' } }],
        },
        // The agent's CPU priority, as its tools see it.
        { text: 'Checking my priority.', toolUse: [{ name: 'Bash', input: { command: 'nice', description: 'niceness' } }] },
        { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary: 'checked the contract' } }] },
        { text: 'Done.' },
      ],
    },
  ],
};

interface ToolDef {
  name: string;
  input_schema: unknown;
  defer_loading?: boolean;
}

/** Text of every user message, system reminders included: where the CLI puts the prompt varies. */
function userTexts(body: unknown): string[] {
  const messages = (body as { messages: Array<{ role: string; content: unknown }> }).messages;
  return messages
    .filter((m) => m.role === 'user')
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : (m.content as Array<{ type: string; text?: string }>).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('\n'),
    );
}

describe('claude CLI contract (what the pinned CLI sends for a ccflow task)', () => {
  let h: Harness;
  let result: TaskResult;
  let first: RecordedRequest;
  let transcript: Array<Record<string, unknown>>;
  const prompt = '[contract] Look around and report.';

  before(async () => {
    h = await startHarness({ script });
    await h.startWorker();
    result = (await h.client.workflow.execute('agentTask', {
      taskQueue: h.taskQueue,
      workflowId: 'cli-contract',
      args: [{ prompt, resultSchema, allowedTools: ['Bash', 'Read'] }],
    })) as TaskResult;
    const main = h.model.mainRequests();
    assert.ok(main[0], 'the CLI sent a main request');
    first = main[0];
    const raw =
      (await h.artifacts.get({ namespace: 'default', workflowId: 'cli-contract' }, 'runs/run-1/a1/transcript.jsonl'))?.toString('utf8') ??
      '';
    transcript = raw
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  });
  after(async () => {
    await h?.close();
  });

  test('submit_result is offered directly (not deferred), with the task schema as its input_schema', () => {
    const tools = (first.body as { tools: ToolDef[] }).tools;
    const submit = tools.find((t) => t.name === SUBMIT_RESULT_TOOL);
    assert.ok(submit, `tools: ${tools.map((t) => t.name).join(', ')}`);
    assert.notEqual(submit.defer_loading, true);
    assert.ok(offeredTools(first.body).includes(SUBMIT_RESULT_TOOL));
    assert.deepEqual(submit.input_schema, strictObjects(resultSchema));
  });

  test('the first user message carries the task prompt and ccflow instruction', () => {
    const texts = userTexts(first.body);
    assert.ok(texts[0]?.includes(taskPromptText(prompt)), 'prompt and instruction in the first user message');
  });

  test('the session id is in metadata and matches the result', () => {
    assert.equal(sessionIdOf(first.body, {}), result.sessionId);
  });

  test('a tool outside allowedTools is offered but cannot be used', () => {
    assert.ok(offeredTools(first.body).includes('Write'));
    const final = transcript.find((l) => l['type'] === 'result') as { permission_denials: Array<{ tool_name: string }> };
    assert.deepEqual(
      final.permission_denials.map((d) => d.tool_name),
      ['Write'],
    );
    const second = h.model.mainRequests()[1]?.body;
    assert.match(JSON.stringify(second), /"is_error":true/);
  });

  test('the agent runs at a lower CPU priority than the worker (niceness 10)', () => {
    const messages = (h.model.mainRequests()[2]?.body as { messages: Array<{ content: unknown }> }).messages;
    const last = messages.at(-1)?.content as Array<{ type: string; content?: unknown }>;
    const output = last.find((b) => b.type === 'tool_result')?.content;
    const text = typeof output === 'string' ? output : JSON.stringify(output);
    assert.equal(text.trim(), '10', `nice printed ${text}`);
  });

  test('the init line lists the result tool and the result server as connected', () => {
    const init = transcript.find((l) => l['type'] === 'system' && l['subtype'] === 'init') as {
      tools: string[];
      mcp_servers: Array<{ name: string; status: string }>;
    };
    assert.ok(init.tools.includes(SUBMIT_RESULT_TOOL));
    assert.deepEqual(
      init.mcp_servers.map(({ name, status }) => ({ name, status })),
      [{ name: 'ccflow', status: 'connected' }],
    );
    assert.deepEqual(result.result, { summary: 'checked the contract' });
    assert.equal(h.model.refusals().length, 0);
  });
});
