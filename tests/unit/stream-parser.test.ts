import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStreamLine } from '../../src/claude/events.js';
import { StreamJsonParser } from '../../src/claude/stream.js';
import { RunState, describeToolUse } from '../../src/claude/run-state.js';
import { classifyResult } from '../../src/claude/classify.js';

const SESSION = '3f1c2a9e-5b7d-4c1e-9a2b-0d4e6f8a1b2c';
const lines = {
  init: {
    type: 'system',
    subtype: 'init',
    session_id: SESSION,
    model: 'claude-sonnet-4-5',
    cwd: '/home/user/workspace',
    tools: ['Bash', 'mcp__ccflow__submit_result'],
    mcp_servers: [{ name: 'ccflow', status: 'connected' }],
  },
  text: {
    type: 'assistant',
    session_id: SESSION,
    parent_tool_use_id: null,
    message: { id: 'msg_1', content: [{ type: 'text', text: 'Let me look.' }] },
  },
  toolUse: {
    type: 'assistant',
    session_id: SESSION,
    parent_tool_use_id: null,
    message: {
      id: 'msg_2',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'npm   test\n -- --watch=false' } }],
    },
  },
  toolResult: {
    type: 'user',
    session_id: SESSION,
    parent_tool_use_id: null,
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'ok', is_error: false }] },
  },
  result: {
    type: 'result',
    subtype: 'success',
    is_error: false,
    session_id: SESSION,
    num_turns: 3,
    total_cost_usd: 0.0123,
    duration_ms: 2100,
    result: 'Done.',
    usage: { input_tokens: 10 },
    permission_denials: [],
  },
  otherSystem: { type: 'system', subtype: 'api_retry', session_id: SESSION },
  partial: {
    type: 'stream_event',
    uuid: 'u1',
    event: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } },
  },
  future: { type: 'hook_event', hook: 'PreToolUse' },
};
const jsonl = (...objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n') + '\n';

describe('parseStreamLine', () => {
  test('recognizes every message type', () => {
    assert.equal(parseStreamLine(JSON.stringify(lines.init)).kind, 'init');
    assert.equal(parseStreamLine(JSON.stringify(lines.text)).kind, 'assistant');
    assert.equal(parseStreamLine(JSON.stringify(lines.toolUse)).kind, 'assistant');
    assert.equal(parseStreamLine(JSON.stringify(lines.toolResult)).kind, 'user');
    assert.equal(parseStreamLine(JSON.stringify(lines.result)).kind, 'result');
    assert.equal(parseStreamLine(JSON.stringify(lines.otherSystem)).kind, 'system');
    const partial = parseStreamLine(JSON.stringify(lines.partial));
    assert.ok(partial.kind === 'partial' && partial.event.event.delta?.text === 'Hel', JSON.stringify(partial));
    assert.deepEqual(parseStreamLine(JSON.stringify(lines.future)), { kind: 'unknown', type: 'hook_event' });
  });

  test('turns garbage into garbage events instead of throwing', () => {
    for (const bad of ['not json', '{"type":', '[1,2]', '42', '{"no_type":true}', '{"type":"result","subtype":"success"}']) {
      const e = parseStreamLine(bad);
      assert.equal(e.kind, 'garbage', bad);
    }
    const e = parseStreamLine('{"type":"result","subtype":"success"}');
    assert.ok(e.kind === 'garbage' && /result event: is_error/.test(e.reason), JSON.stringify(e));
  });

  test('keeps the fields ccflow reads from init and result', () => {
    const init = parseStreamLine(JSON.stringify(lines.init));
    assert.ok(init.kind === 'init');
    assert.deepEqual(init.event.mcp_servers, [{ name: 'ccflow', status: 'connected' }]);
    const result = parseStreamLine(JSON.stringify(lines.result));
    assert.ok(result.kind === 'result');
    assert.equal(result.event.total_cost_usd, 0.0123);
    assert.equal(result.event.num_turns, 3);
  });
});

describe('StreamJsonParser', () => {
  test('reassembles lines split across chunks at any byte, multi-byte characters included', () => {
    const text = { ...lines.text, message: { id: 'm', content: [{ type: 'text', text: 'héllo → wörld ✓' }] } };
    const data = Buffer.from(jsonl(lines.init, text, lines.result), 'utf8');
    for (let cut = 1; cut < data.length; cut += 7) {
      const p = new StreamJsonParser();
      const events = [...p.push(data.subarray(0, cut)), ...p.push(data.subarray(cut)), ...p.end()];
      assert.deepEqual(
        events.map((e) => e.kind),
        ['init', 'assistant', 'result'],
        `cut at ${cut}`,
      );
      const a = events[1];
      assert.ok(a?.kind === 'assistant');
      assert.deepEqual(a.event.message.content[0], { type: 'text', text: 'héllo → wörld ✓' });
      assert.equal(p.offset, data.length);
    }
  });

  test('offset counts only complete lines, so a restarted reader resumes without loss', () => {
    const data = Buffer.from(jsonl(lines.init, lines.text, lines.result));
    const firstLineEnd = data.indexOf(0x0a) + 1;
    const p = new StreamJsonParser();
    const part = p.push(data.subarray(0, firstLineEnd + 5));
    assert.equal(part.length, 1);
    assert.equal(p.offset, firstLineEnd);
    // A new reader from the recorded offset sees exactly the remaining lines.
    const resumed = new StreamJsonParser(p.offset);
    const rest = resumed.push(data.subarray(p.offset));
    assert.deepEqual(
      rest.map((e) => e.kind),
      ['assistant', 'result'],
    );
    assert.equal(resumed.offset, data.length);
  });

  test('skips blank lines, reports garbage lines, and parses a final line without newline', () => {
    const p = new StreamJsonParser();
    const events = [...p.push(Buffer.from(`\n\nnot json\n${JSON.stringify(lines.init)}\n\n${JSON.stringify(lines.result)}`)), ...p.end()];
    assert.deepEqual(
      events.map((e) => e.kind),
      ['garbage', 'init', 'result'],
    );
  });
});

describe('RunState', () => {
  test('tracks session, turns, tools in flight, last tool and text, and the result', () => {
    const s = new RunState();
    const p = new StreamJsonParser();
    const feed = (...objs: unknown[]) => p.push(Buffer.from(jsonl(...objs))).forEach((e) => s.apply(e));
    feed(lines.init, lines.text, lines.toolUse);
    assert.equal(s.sessionId, SESSION);
    assert.equal(s.resultServerStatus, 'connected');
    assert.equal(s.turns, 2);
    assert.equal(s.pendingTools, 1);
    assert.equal(s.lastTool, 'Bash: npm test -- --watch=false');
    assert.equal(s.lastText, 'Let me look.');
    // A second content block of the same message is not a new turn.
    feed({ ...lines.toolUse, message: { ...lines.toolUse.message, content: [{ type: 'text', text: 'same message' }] } });
    assert.equal(s.turns, 2);
    feed(lines.toolResult, lines.result);
    assert.equal(s.pendingTools, 0);
    assert.equal(s.result?.subtype, 'success');
    assert.ok(s.recentEvents.at(-1)?.startsWith('result: success'));
  });

  test('shortens long tool arguments', () => {
    const d = describeToolUse('Bash', { command: 'x'.repeat(500) });
    assert.ok(d.length <= 'Bash: '.length + 80);
    assert.equal(describeToolUse('Write', { file_path: 'src/a.ts', content: '...' }), 'Write: src/a.ts');
    assert.equal(describeToolUse('Mystery', 5), 'Mystery');
  });
});

describe('classifyResult', () => {
  const base = { type: 'result' as const, session_id: SESSION, num_turns: 2, total_cost_usd: 0.01, is_error: true };
  test('maps result subtypes and API errors to failure types', () => {
    assert.equal(classifyResult({ ...base, subtype: 'success', is_error: false }), undefined);
    assert.equal(classifyResult({ ...base, subtype: 'error_max_turns' })?.type, 'MaxTurnsExceeded');
    assert.equal(classifyResult({ ...base, subtype: 'error_max_budget_usd' })?.type, 'BudgetExceeded');
    assert.equal(
      classifyResult({ ...base, subtype: 'success', result: 'API Error: 401 {"type":"error","error":{"type":"authentication_error"}}' })
        ?.type,
      'ModelAuthFailed',
    );
    assert.equal(classifyResult({ ...base, subtype: 'success', result: 'API Error: 529 overloaded' })?.type, 'ModelUnavailable');
    assert.equal(classifyResult({ ...base, subtype: 'success', result: 'API Error: 500 boom' })?.type, 'ModelUnavailable');
    assert.equal(classifyResult({ ...base, subtype: 'error_during_execution' })?.type, 'AgentFailed');
    // The status field wins over the text.
    assert.equal(
      classifyResult({ ...base, subtype: 'success', api_error_status: 429, terminal_reason: 'api_error', result: 'rate limited' })?.type,
      'ModelUnavailable',
    );
    assert.equal(classifyResult({ ...base, subtype: 'success', api_error_status: 401, result: 'nope' })?.type, 'ModelAuthFailed');
  });
});
