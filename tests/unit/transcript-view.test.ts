/** `ccflow logs` rendering of a transcript recorded from a real run (tests/fixtures/progress). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/home.js';
import { renderTranscript, runHeader } from '../../src/cli/views/transcript-view.js';

test('a saved transcript reads as the conversation: text, tool calls, results, the result line', () => {
  const bytes = readFileSync(path.join(PACKAGE_ROOT, 'tests/fixtures/progress/transcript-run-1.jsonl'));
  const out = renderTranscript(bytes);
  const expectInOrder = [
    /^session [0-9a-f-]{36} · model \S+ · mcp: ccflow connected$/,
    /^assistant │ I'll look at the test suite first\.$/,
    /^ {2}→ Bash: ls && cat package\.json$/,
    /^ {4}✗ .*No such file or directory/,
    /^assistant │ Running the tests to see which one is slow\.$/,
    /^ {2}→ Bash: sleep 3; echo 'slow\.test\.js 2\.9s'$/,
    /^ {4}← slow\.test\.js 2\.9s$/,
    /^ {2}→ mcp__ccflow__submit_result \{"summary":42\}$/,
    /^ {4}✗ MCP error -32602: .*summary: Invalid input: expected string, received number/,
    /^assistant │ The result tool refused my submission\.$/,
    /^result: success · 4 turns · \$0\.2171 · \d+\.\d s$/,
  ];
  let at = 0;
  for (const pattern of expectInOrder) {
    const found = out.findIndex((line, i) => i >= at && pattern.test(line));
    assert.ok(found >= 0, `expected a line matching ${pattern} after line ${at}:\n${out.join('\n')}`);
    at = found + 1;
  }
});

test('bad lines are reported, not thrown; headers name run and attempt', () => {
  assert.deepEqual(
    renderTranscript(
      'not json\n{"type":"result","subtype":"success","is_error":false,"session_id":"s","num_turns":1,"total_cost_usd":0.5}',
    ),
    ['(unparsed line: not JSON)', 'result: success · 1 turns · $0.5000'],
  );
  assert.match(runHeader('runs/run-2/a3/transcript.jsonl'), /^── run-2 · attempt 3 ─+$/);
});
