/** The pure parts of `ccflow mcp`: what its tools answer, its error texts, its HTTP request guard. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApprovalError,
  ChangesError,
  InvalidInputError,
  ServerUnreachableError,
  TaskNotFoundError,
  type PendingApproval,
  type ProgressSnapshot,
} from '../../src/client/index.js';
import { ToolError, toolErrorText } from '../../src/frontends/mcp/errors.js';
import { refuseRequest } from '../../src/frontends/mcp/http.js';
import { followUpView, isSettled, progressLine, taskView, withApprovals } from '../../src/frontends/mcp/views.js';

const snapshot = (over: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({
  type: 'progress',
  workflowId: 'task-1',
  at: 0,
  elapsedMs: 12_345,
  phase: 'running',
  turns: 3,
  costUsd: 0.123456789,
  runs: 0,
  resultAttempts: 0,
  toolRunning: true,
  tool: 'Bash: npm test',
  text: 'Running the tests.',
  ...over,
});

test('a running task: phase, turns, cost, tool and text, and a hint to keep waiting in bounded steps', () => {
  const v = taskView(snapshot());
  assert.equal(v.state, 'running');
  assert.equal(v.elapsedSeconds, 12.3);
  assert.equal(v.costUsd, 0.1235);
  assert.equal(v.currentTool, 'Bash: npm test');
  assert.equal(v.toolRunning, true);
  assert.equal(v.lastText, 'Running the tests.');
  assert.match(v.next, /wait_task with workflowId "task-1"/);
  assert.equal(isSettled(snapshot()), false);
  assert.equal(progressLine(snapshot()), 'running · 3 agent turns · $0.1235 · running Bash: npm test');
});

test('an open task with its latest turn done is settled, with that turn and its result; a queued turn is not', () => {
  const open = snapshot({ phase: 'open', openUntil: Date.UTC(2030, 0, 1), latestTurn: { turn: 2, done: true, result: { ok: true } } });
  assert.equal(isSettled(open), true);
  const v = taskView(open);
  assert.equal(v.state, 'open');
  assert.equal(v.turn, 2);
  assert.deepEqual(v.result, { ok: true });
  assert.equal(v.openUntil, '2030-01-01T00:00:00.000Z');
  assert.match(v.next, /follow_up/);
  // A follow-up was accepted but the loop has not taken it yet: still open, but not settled.
  const queued = snapshot({ phase: 'open', latestTurn: { turn: 3, done: false } });
  assert.equal(isSettled(queued), false);
  assert.equal(taskView(queued).state, 'running');
  assert.equal(taskView(queued).result, undefined);
});

test('a task or pipeline step holding a call for approval is settled: wait_task hands it back with the call to answer', () => {
  const waiting = snapshot({ phase: 'waiting-approval', toolRunning: false });
  assert.equal(isSettled(waiting), true);
  const v = taskView(waiting);
  assert.equal(v.state, 'waiting-for-approval');
  assert.match(v.next, /ask\. Then call approve with its workflowId and requestId/);
  const step = snapshot({ workflowId: 'pipeline-1', steps: [{ name: 'ship', state: 'waiting' }] });
  assert.equal(isSettled(step), true);
  assert.equal(taskView(step).state, 'waiting-for-approval');
  assert.equal(isSettled(snapshot({ steps: [{ name: 'ship', state: 'running' }] })), false);

  const pending: PendingApproval = {
    workflowId: 'pipeline-1.ship',
    id: 'pipeline-1.ship/req-2',
    parentWorkflowId: 'pipeline-1',
    requestId: 'req-2',
    toolUseId: 'toolu_1',
    toolName: 'Bash',
    input: '{"command":"git push origin main"}',
    inputSha256: 'ab',
    rules: ['Bash(git push:*)'],
    agentText: 'Shipping.',
    turn: 1,
    sessionId: 's',
    requestedAt: Date.UTC(2030, 0, 1),
    sandboxReleased: true,
  };
  const shown = withApprovals(taskView(step), [pending, { ...pending, input: '{"command":"git pu' }]);
  assert.deepEqual(shown.pendingApprovals?.[0], {
    workflowId: 'pipeline-1.ship',
    requestId: 'req-2',
    toolName: 'Bash',
    input: { command: 'git push origin main' },
    rules: ['Bash(git push:*)'],
    agentText: 'Shipping.',
    turn: 1,
    requestedAt: '2030-01-01T00:00:00.000Z',
    sandboxReleased: true,
  });
  assert.equal(shown.pendingApprovals?.[1]?.input, '{"command":"git pu', 'an input cut short stays text');
  const gone = withApprovals(taskView(step), []);
  assert.deepEqual(gone.pendingApprovals, []);
  assert.match(gone.next, /just been answered.*wait_task/);
  assert.equal(withApprovals(taskView(snapshot()), [pending]).pendingApprovals, undefined, 'only a waiting task lists calls');
});

test('a task no worker has picked up says so', () => {
  assert.equal(taskView(snapshot({ phase: 'waiting-for-worker' })).state, 'waiting-for-worker');
});

test('ended tasks: the result, a pipeline with its steps, a failure with what to read', () => {
  const done = taskView({
    type: 'result',
    workflowId: 'task-1',
    at: 0,
    elapsedMs: 5_000,
    result: { result: { words: 4 }, numTurns: 6, totalCostUsd: 0.49127999999999994, sessionId: 's', turns: [{ turn: 1 }, { turn: 2 }] },
  });
  assert.deepEqual(
    { state: done.state, result: done.result, turn: done.turn, costUsd: done.costUsd },
    { state: 'succeeded', result: { words: 4 }, turn: 2, costUsd: 0.4913 },
  );
  const pipeline = taskView({
    type: 'result',
    workflowId: 'pipeline-1',
    at: 0,
    elapsedMs: 1,
    result: { ok: false, steps: { plan: { state: 'done', result: { a: 1 } }, build: { state: 'failed', error: 'boom' } } },
  });
  assert.equal(pipeline.state, 'failed');
  assert.deepEqual(pipeline.steps, [
    { name: 'plan', state: 'done', result: { a: 1 } },
    { name: 'build', state: 'failed', error: 'boom' },
  ]);
  assert.match(pipeline.next, /failed steps \(build\)/);
  const failed = taskView({
    type: 'failure',
    workflowId: 'task-2',
    at: 0,
    elapsedMs: 1,
    status: 'failed',
    failureType: 'InvalidResult',
    message: 'no valid result',
  });
  assert.deepEqual(failed.failure, { type: 'InvalidResult', message: 'no valid result' });
  assert.match(failed.next, /ccflow:\/\/tasks\/task-2\/transcript/);
});

test("a follow-up's answer: its turn, result, the turn's duration and the task's totals", () => {
  const v = followUpView({
    workflowId: 'task-1',
    turn: 2,
    result: { words: 4 },
    sessionId: 's',
    sandboxId: 'b',
    numTurns: 3,
    costUsd: 0.1,
    durationMs: 2_340,
    totalNumTurns: 6,
    totalCostUsd: 0.2,
    restored: false,
  });
  assert.deepEqual([v.state, v.turn, v.turnSeconds, v.agentTurns, v.elapsedSeconds], ['open', 2, 2.3, 6, undefined]);
});

test('approval and change errors say what to look at', () => {
  assert.match(toolErrorText('approve', new ApprovalError('nothing waits for approval under t')), /Nothing was answered; get_task shows/);
  assert.match(
    toolErrorText('get_changes', new ChangesError('no stored change for t in /a', 'missing')),
    /recorded for each finished turn of a task started with repo/,
  );
});

test('error texts say what to do next', () => {
  assert.match(toolErrorText('get_task', new TaskNotFoundError('no task with workflow id "x"')), /list_tasks shows recent tasks/);
  assert.match(
    toolErrorText('start_task', new InvalidInputError('invalid task: prompt: must not be empty')),
    /fix the named field and call start_task again/,
  );
  assert.match(toolErrorText('wait_task', new ServerUnreachableError('127.0.0.1:9')), /127\.0\.0\.1:9.*call wait_task again/);
  assert.equal(toolErrorText('x', new ToolError('as is')), 'as is');
  assert.equal(toolErrorText('x', new Error('first line\nsecond')), 'x failed: first line');
});

test('the HTTP guard: Host must name this server at its port; an Origin must be its own', () => {
  const bound = { host: '127.0.0.1', port: 7777 };
  assert.equal(refuseRequest({ host: '127.0.0.1:7777' }, bound), undefined);
  assert.equal(refuseRequest({ host: 'localhost:7777', origin: 'http://localhost:7777' }, bound), undefined);
  assert.equal(refuseRequest({ host: '[::1]:7777' }, bound), undefined);
  assert.match(refuseRequest({ host: 'attacker.example:7777' }, bound) ?? '', /is not this server/);
  assert.match(refuseRequest({ host: '127.0.0.1:8888' }, bound) ?? '', /is not this server/);
  assert.match(refuseRequest({}, bound) ?? '', /is not this server/);
  assert.match(refuseRequest({ host: '127.0.0.1:7777', origin: 'http://attacker.example' }, bound) ?? '', /Origin .* is not this server's/);
  assert.match(refuseRequest({ host: '127.0.0.1:7777', origin: 'http://localhost:3000' }, bound) ?? '', /Origin/);
  assert.match(refuseRequest({ host: '127.0.0.1:7777', origin: 'null' }, bound) ?? '', /Origin/);
  // Listening on another address: that address is the name, loopback names are not.
  assert.equal(refuseRequest({ host: '10.0.0.5:7777' }, { host: '10.0.0.5', port: 7777 }), undefined);
  assert.match(refuseRequest({ host: 'localhost:7777' }, { host: '10.0.0.5', port: 7777 }) ?? '', /is not this server/);
});
