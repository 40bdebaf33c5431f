import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/home.js';
import { parseStreamLine, type ResultEvent } from '../../src/claude/events.js';
import { classifyResult } from '../../src/claude/classify.js';
import { classifyRunEnd } from '../../src/claude/deferred.js';
import { inputSha256 } from '../../src/claude/approval-settings.js';

const lines = readFileSync(path.join(PACKAGE_ROOT, 'tests/fixtures/approvals/result-lines.jsonl'), 'utf8').trim().split('\n');
const recorded = (i: number): ResultEvent => {
  const e = parseStreamLine(lines[i] ?? '');
  assert.equal(e.kind, 'result');
  if (e.kind !== 'result') throw new Error('not a result line');
  return e.event;
};

describe('classifyRunEnd (recorded claude 2.1.330 result lines)', () => {
  test('a deferred run is neither a success nor a failure: it waits, holding the call', () => {
    const result = recorded(0);
    assert.equal(classifyResult(result), undefined, 'the plain classifier would call it a success');
    const end = classifyRunEnd(result);
    assert.equal(end.kind, 'deferred');
    if (end.kind !== 'deferred') return;
    assert.match(end.call.toolUseId, /^toolu_/);
    assert.equal(end.call.toolName, 'Bash');
    assert.deepEqual(end.call.input, { command: 'git push --force origin main 2>/dev/null; echo ran-b > b.txt' });
    assert.equal(end.call.inputSha256, inputSha256(end.call.input));
  });

  test('the resumed run that ran the call completes', () => {
    assert.deepEqual(classifyRunEnd(recorded(1)), { kind: 'completed' });
  });

  test('a resume deferred again waits again, on the same call', () => {
    const end = classifyRunEnd(recorded(2));
    assert.equal(end.kind, 'deferred');
  });

  test('a held call whose tool is gone on resume is a failure that says so', () => {
    const end = classifyRunEnd(recorded(3));
    assert.equal(end.kind, 'failed');
    if (end.kind === 'failed') {
      assert.equal(end.type, 'AgentFailed');
      assert.match(end.message, /could not be resumed: mcp__perm__approve isn't available/);
    }
  });

  test('a deferred stop without the call, and ordinary failures, are failures', () => {
    const base = recorded(0);
    const { deferred_tool_use: _dropped, ...withoutCall } = base as ResultEvent & { deferred_tool_use?: unknown };
    assert.equal(classifyRunEnd(withoutCall as ResultEvent).kind, 'failed');
    assert.deepEqual(classifyRunEnd({ ...base, stop_reason: 'end_turn', deferred_tool_use: undefined } as ResultEvent), {
      kind: 'completed',
    });
    const maxTurns = classifyRunEnd({ ...recorded(1), subtype: 'error_max_turns', is_error: true });
    assert.equal(maxTurns.kind === 'failed' && maxTurns.type, 'MaxTurnsExceeded');
  });
});
