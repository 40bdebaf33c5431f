/**
 * The CLI's progress rendering, against event sequences recorded from real runs with
 * `ccflow run --json` (see tests/fixtures/progress/README.md for how to record them again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/home.js';
import { LineProgressView, formatDuration, redraw, renderEnd, renderFrame } from '../../src/cli/views/progress-view.js';
import { ProgressEvent, sameProgress, type ProgressSnapshot } from '../../src/schemas/progress.js';

function recorded(name: string): ProgressEvent[] {
  const text = readFileSync(path.join(PACKAGE_ROOT, 'tests/fixtures/progress', `${name}.jsonl`), 'utf8');
  // Every recorded line is a valid event: the --json wire shape has not drifted.
  return text
    .trim()
    .split('\n')
    .map((line) => ProgressEvent.parse(JSON.parse(line)));
}

function lines(events: readonly ProgressEvent[]): string[] {
  const view = new LineProgressView();
  return events.flatMap((e) => view.update(e));
}

test('line view of a task whose first result was rejected and corrected (recorded)', () => {
  assert.deepEqual(lines(recorded('corrected-result')), [
    '[    0s] creating-sandbox · 0 turns · $0.0000',
    '[    1s] running · 0 turns · $0.0000',
    '[    1s] step: runClaude run-1',
    '[    4s] agent: Running the tests to see which one is slow.',
    "[    4s] tool: Bash: sleep 3; echo 'slow.test.js 2.9s'",
    '[    8s] correcting · 4 turns · $0.2171',
    '[    8s] result rejected: summary: Invalid input: expected string, received number',
    '[    8s] step: runClaude run-2',
    '[   11s] destroying-sandbox · 6 turns · $0.5450 · result attempt 2',
    '[   11s] ✓ succeeded in 11s · 6 turns · $0.5450 · 2 result attempts',
    '           transcripts: /home/user/.ccflow/artifacts/demo-json (ccflow logs demo-json)',
  ]);
});

test('line view of a task that failed with InvalidResult (recorded)', () => {
  const out = lines(recorded('invalid-result'));
  assert.deepEqual(out.slice(0, 7), [
    '[    1s] running · 0 turns · $0.0000',
    '[    1s] step: runClaude run-1',
    "[    4s] agent: I'll look at the test suite first.",
    '[    4s] tool: Bash: ls && cat package.json',
    '[    7s] agent: Running the tests to see which one is slow.',
    "[    7s] tool: Bash: sleep 3; echo 'slow.test.js 2.9s'",
    '[    8s] fetching-result · 4 turns · $0.2170',
  ]);
  assert.match(
    out[7] ?? '',
    /^\[ {4}8s\] ✗ failed after 8s: InvalidResult: the task failed: no valid result after 1 agent run\(s\): summary: Invalid input/,
  );
  assert.equal(out[8], '           transcripts: /home/user/.ccflow/artifacts/demo-fail (ccflow logs demo-fail)');
  assert.equal(out.length, 9);
});

test('terminal frames: headline, step, tool in use, agent text; cut to the width', () => {
  const events = recorded('corrected-result');
  const agentAtWork = events[2];
  assert.equal(agentAtWork?.type, 'progress');
  assert.deepEqual(renderFrame(agentAtWork as ProgressSnapshot, 80), [
    '● demo-json · running · 4s · 4 turns · $0.0000',
    '  step:  runClaude run-1',
    "  tool:  Bash: sleep 3; echo 'slow.test.js 2.9s' …",
    '  agent: Running the tests to see which one is slow.',
  ]);
  assert.deepEqual(renderFrame(events[3] as ProgressSnapshot, 80), [
    '● demo-json · correcting · 8s · 4 turns · $0.2171',
    '  step:  runClaude run-2',
    '  fixing result: summary: Invalid input: expected string, received number',
  ]);
  for (const line of renderFrame(agentAtWork as ProgressSnapshot, 30)) assert.ok([...line].length <= 30, line);

  const end = events.at(-1);
  assert.equal(end?.type, 'result');
  assert.deepEqual(renderEnd(end as Exclude<ProgressEvent, ProgressSnapshot>), [
    '✓ succeeded in 11s · 6 turns · $0.5450 · 2 result attempts',
    '  transcripts: /home/user/.ccflow/artifacts/demo-json (ccflow logs demo-json)',
  ]);
});

test('a retried activity shows its attempt and why the previous one failed', () => {
  // The recorded snapshot of run-1, as Temporal reports it on a third attempt.
  const base = recorded('corrected-result')[2] as ProgressSnapshot;
  const retried: ProgressSnapshot = {
    ...base,
    activity: {
      type: 'runClaude',
      attempt: 3,
      run: 'run-1',
      lastFailure: 'ModelUnavailable: the model endpoint answered 529 (overloaded)',
    },
  };
  assert.equal(
    renderFrame(retried, 200)[1],
    '  step:  runClaude run-1 attempt 3 (retry after: ModelUnavailable: the model endpoint answered 529 (overloaded))',
  );
  const view = new LineProgressView();
  view.update(base);
  assert.deepEqual(view.update(retried), [
    '[    4s] step: runClaude run-1 attempt 3 (retry after: ModelUnavailable: the model endpoint answered 529 (overloaded))',
  ]);
});

test('--json dedupes snapshots that differ only by the clock; redraw clears the previous frame', () => {
  const e = recorded('corrected-result')[1] as ProgressSnapshot;
  assert.equal(sameProgress(e, { ...e, at: e.at + 1_000, elapsedMs: e.elapsedMs + 1_000 }), true);
  assert.equal(sameProgress(e, { ...e, turns: e.turns + 1 }), false);
  assert.equal(sameProgress(undefined, e), false);
  assert.equal(redraw(0, ['a', 'b']), 'a\nb\n');
  assert.equal(redraw(2, ['c']), '\x1b[2A\r\x1b[Jc\n');
});

test('durations read naturally', () => {
  assert.deepEqual([0, 999, 7_400, 65_000, 3_725_000].map(formatDuration), ['0s', '0s', '7s', '1m05s', '1h02m']);
});

test('a pipeline shows its steps and their states', () => {
  // A recorded agentTask snapshot with the step list a pipeline's status query adds.
  const base = recorded('corrected-result')[1] as ProgressSnapshot;
  const steps = [
    { name: 'plan', state: 'succeeded' },
    { name: 'implement', state: 'running' },
    { name: 'review', state: 'pending' },
  ];
  const withSteps: ProgressSnapshot = { ...base, steps };
  assert.equal(renderFrame(withSteps, 200).at(-1), '  steps: plan succeeded · implement running · review pending');
  const view = new LineProgressView();
  assert.ok(view.update(withSteps).includes('[    1s] steps: plan succeeded · implement running · review pending'));
  assert.deepEqual(view.update(withSteps), []);
});
