/**
 * `{{toolResult...}}` placeholders in scripted model steps: filled from the last tool result
 * the request holds, and refused (HTTP 400, recorded) when the request cannot fill them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TemplateError, fillStep, lastToolResultText, parseScript, startModelServer } from '../../src/testing/model/index.js';
import type { ModelServer } from '../../src/testing/model/index.js';

const tools = [{ name: 'mcp__ccflow__wait_task', input_schema: { type: 'object' } }];

/** A Messages API body whose last user message answers a tool call with `text`. */
function bodyWithToolResult(content: unknown): Record<string, unknown> {
  return {
    model: 'claude-scripted',
    stream: false,
    tools,
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'start the background job' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'mcp__ccflow__start_task', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content }] },
    ],
  };
}

const started = JSON.stringify({ workflowId: 'task-42', state: 'running', turns: 3, result: { words: [1, 2, 'three'] } });

describe('fillStep', () => {
  test('a whole-string placeholder keeps the JSON type; inside text it is written in place', () => {
    const step = parseScript({
      conversations: [
        {
          steps: [
            {
              text: 'Task {{toolResult.workflowId}} took {{ toolResult.turns }} turns: {{toolResult.result}}',
              toolUse: [
                {
                  name: 'mcp__ccflow__wait_task',
                  input: { workflowId: '{{toolResult.workflowId}}', n: '{{toolResult.turns}}', deep: ['{{toolResult.result.words.2}}'] },
                },
              ],
            },
          ],
        },
      ],
    }).conversations[0]!.steps[0]!;
    const filled = fillStep(step, bodyWithToolResult([{ type: 'text', text: started }]));
    assert.equal(filled.text, 'Task task-42 took 3 turns: {"words":[1,2,"three"]}');
    assert.deepEqual(filled.toolUse?.[0]?.input, { workflowId: 'task-42', n: 3, deep: ['three'] });
  });

  test('{{toolResult}} is the whole text; a string content works like text blocks', () => {
    const step = parseScript({ conversations: [{ steps: [{ text: 'It said: {{toolResult}}' }] }] }).conversations[0]!.steps[0]!;
    assert.equal(fillStep(step, bodyWithToolResult('plain words')).text, 'It said: plain words');
    assert.equal(
      lastToolResultText(
        bodyWithToolResult([
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ]),
      ),
      'a\nb',
    );
  });

  test('a step without placeholders is played as written, even with no tool result', () => {
    const step = parseScript({ conversations: [{ steps: [{ text: 'no {braces} here' }] }] }).conversations[0]!.steps[0]!;
    assert.equal(fillStep(step, { messages: [] }), step);
  });

  test('what the request cannot fill is a TemplateError naming the placeholder and why', () => {
    const step = (input: Record<string, unknown>) =>
      parseScript({ conversations: [{ steps: [{ toolUse: [{ name: 'mcp__ccflow__wait_task', input }] }] }] }).conversations[0]!.steps[0]!;
    const noResult = { messages: [{ role: 'user', content: 'hi' }] };
    assert.throws(() => fillStep(step({ id: '{{toolResult.workflowId}}' }), noResult), /no tool result/);
    assert.throws(() => fillStep(step({ id: '{{toolResult.workflowId}}' }), bodyWithToolResult('not json')), /not JSON: not json/);
    assert.throws(
      () => fillStep(step({ id: '{{toolResult.missing}}' }), bodyWithToolResult(started)),
      (err: unknown) =>
        err instanceof TemplateError && err.placeholder === '{{toolResult.missing}}' && /has no "missing"/.test(err.message),
    );
  });
});

describe('the scripted model server with placeholders', () => {
  let model: ModelServer;
  before(async () => {
    model = await startModelServer({
      script: parseScript({
        conversations: [
          {
            match: 'good',
            steps: [{ text: 'x' }, { toolUse: [{ name: 'mcp__ccflow__wait_task', input: { workflowId: '{{toolResult.workflowId}}' } }] }],
          },
          { match: 'bad', steps: [{ text: 'x' }, { text: 'result was {{toolResult.nothing}}' }] },
        ],
      }),
    });
  });
  after(async () => {
    await model.close();
  });

  async function post(body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${model.url}/v1/messages`, { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  const withPrompt = (prompt: string) => {
    const b = bodyWithToolResult(started);
    (b['messages'] as Array<{ content: unknown }>)[0]!.content = [{ type: 'text', text: prompt }];
    return b;
  };

  test('answers with the value read from the request', async () => {
    const { status, json } = await post(withPrompt('good'));
    assert.equal(status, 200);
    const content = json['content'] as Array<{ type: string; input?: unknown }>;
    assert.deepEqual(content[0]?.input, { workflowId: 'task-42' });
    assert.equal(model.refusals().length, 0);
  });

  test('refuses a step whose placeholder the request cannot fill, and records it', async () => {
    const { status, json } = await post(withPrompt('bad'));
    assert.equal(status, 400);
    assert.match(
      String((json['error'] as { message: string }).message),
      /cannot be played: \{\{toolResult\.nothing\}\}: the last tool result has no "nothing"/,
    );
    const refusal = model.refusals().at(-1);
    assert.equal(refusal?.placeholder, '{{toolResult.nothing}}');
    assert.deepEqual(refusal?.tools, []);
  });
});
