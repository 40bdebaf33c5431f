/**
 * The benchmark's own logic, without running it: percentiles, how an agentTask's time is cut
 * into parts, and that the synthetic transcript is one the real parser reads cleanly. No timing
 * is asserted here; the numbers live in bench/results.md.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StreamJsonParser } from '../../src/claude/stream.js';
import { RunState } from '../../src/claude/run-state.js';
import { percentile, summarize } from '../../bench/lib/stats.js';
import type { Timeline } from '../../bench/lib/history.js';
import { breakdown, causeOf, CLAUDE_SEGMENT } from '../../bench/overhead.js';
import { writeTranscript } from '../../bench/parse.js';
import type { TimingRecord } from '../../bench/timing-provider.js';

describe('stats', () => {
  test('percentiles interpolate between ranks', () => {
    assert.equal(percentile([3, 1, 2], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([10], 95), 10);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.deepEqual(summarize([1, 2, 3, 4, 5]), { n: 5, p50: 3, p95: 4.8, mean: 3, min: 1, max: 5 });
  });
});

describe('breakdown of an agentTask', () => {
  // A made-up run: times in ms since 0; the client started it at 0 and had the result at 2000.
  const tl: Timeline = {
    workflowStarted: 5,
    workflowClosed: 1990,
    activityProblems: [],
    activities: [
      { name: 'createSandbox', scheduled: 40, started: 45, completed: 55, attempt: 1, outcome: 'completed' },
      { name: 'runClaude', scheduled: 70, started: 75, completed: 1800, attempt: 1, outcome: 'completed' },
      { name: 'fetchResult', scheduled: 1815, started: 1820, completed: 1830, attempt: 1, outcome: 'completed' },
      { name: 'saveSession', scheduled: 1845, started: 1850, completed: 1930, attempt: 1, outcome: 'completed' },
      { name: 'destroySandbox', scheduled: 1945, started: 1950, completed: 1975, attempt: 1, outcome: 'completed' },
    ],
  };
  const rec = (op: TimingRecord['op'], t0: number, t1 = t0, extra: Partial<TimingRecord> = {}): TimingRecord => ({
    sandboxId: 'sbx-1',
    op,
    t0,
    t1,
    ...extra,
  });
  const records: TimingRecord[] = [
    rec('create', 46, 50, { workflowId: 'wf' }),
    rec('writeFile', 78, 80, { path: '/home/user/.ccflow/mcp.json' }),
    rec('execDetached', 85, 95),
    rec('firstOutput', 900, 901),
    rec('resultSeen', 1700, 1701, { fileTime: 1690 }),
    rec('exitSeen', 1795, 1796, { fileTime: 1760, polls: 40 }),
    rec('execDetached', 1860, 1865),
    rec('exitSeen', 1920, 1921, { fileTime: 1880 }),
    rec('destroy', 1955, 1970),
  ];
  const run = breakdown(0, 2000, tl, records);

  test('the parts are consecutive and add up to the wall time', () => {
    assert.equal(run.wallMs, 2000);
    assert.equal(
      run.segments.reduce((sum, s) => sum + s.ms, 0),
      2000,
    );
    assert.ok(
      run.segments.every((s) => s.ms >= 0),
      JSON.stringify(run.segments),
    );
  });

  test('runClaude and saveSession are cut at the spawn, the exit and the moment it was noticed', () => {
    const ms = (key: string) => run.segments.find((s) => s.key === key)?.ms;
    assert.equal(ms('runClaude.prep'), 10);
    assert.equal(ms(CLAUDE_SEGMENT), 1675);
    assert.equal(ms('runClaude.poll'), 36);
    assert.equal(ms('runClaude.finish'), 4);
    assert.equal(ms('saveSession.process'), 20);
    assert.equal(ms('saveSession.poll'), 41);
    assert.equal(ms('fetchResult.exec'), 10);
    assert.equal(ms('wft.createSandbox'), 35);
    assert.equal(run.worker.resultToExitMs, 70);
    assert.equal(run.worker.firstOutputMs, 816);
    assert.equal(run.worker.sandboxDestroyMs, 15);
  });

  test('parts are grouped by cause', () => {
    assert.equal(causeOf('wft.fetchResult'), causeOf('result'));
    assert.equal(causeOf('runClaude.poll'), causeOf('saveSession.poll'));
    assert.equal(causeOf('destroySandbox.exec'), 'destroySandbox: its own work');
  });
});

describe('synthetic transcript', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('parses cleanly with the runner parser: no garbage, every tool call answered, a result line', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-bench-test-'));
    const file = path.join(dir, 't.jsonl');
    const bytes = await writeTranscript(file, 1);
    const data = await readFile(file);
    assert.equal(data.length, bytes);
    const parser = new StreamJsonParser(0);
    const state = new RunState();
    // Odd chunk sizes split lines and multi-byte characters.
    for (let i = 0; i < data.length; i += 65_537) for (const e of parser.push(data.subarray(i, i + 65_537))) state.apply(e);
    for (const e of parser.end()) state.apply(e);
    assert.equal(parser.offset, data.length);
    assert.equal(state.garbageLines, 0);
    assert.equal(state.unknownTypes.size, 0);
    assert.equal(state.pendingTools, 0);
    assert.ok(state.turns > 10, `turns ${state.turns}`);
    assert.equal(state.result?.subtype, 'success');
  });
});
