/**
 * runAgent's decisions from the init line, against an in-memory sandbox whose "process" has
 * already written a given stream-json output. The init line is judged until a result line
 * arrives (a result says more, e.g. a rejected key), so the failing cases print none.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN_TIMING, runAgent } from '../../src/claude/runner.js';
import { CcflowFailure } from '../../src/domain/failures.js';
import { SUBMIT_RESULT_TOOL } from '../../src/domain/prompts.js';
import type { ExecDetachedOpts, Sandbox } from '../../src/sandbox/types.js';

const SESSION = '6f1c2d3e-0000-4000-8000-000000000001';

/** A sandbox whose single process prints `stdout`, then exits 0. */
function finishedProcessSandbox(stdout: string): Sandbox & { killed: number } {
  const files = new Map<string, Buffer>();
  let exitCodePath = '';
  return {
    sandboxId: 'sbx-memory',
    provider: 'local',
    killed: 0,
    async execDetached(_argv: string[], o: ExecDetachedOpts) {
      files.set(o.stdoutPath, Buffer.from(stdout));
      files.set(o.stderrPath, Buffer.from('some stderr\n'));
      files.set(o.exitCodePath, Buffer.from('0'));
      exitCodePath = o.exitCodePath;
      return { pid: 42 };
    },
    async processState(_pid: number, path: string) {
      return path === exitCodePath ? { state: 'exited' as const, exitCode: 0 } : { state: 'running' as const };
    },
    async kill() {
      this.killed += 1;
    },
    async readFile(path: string) {
      return files.get(path);
    },
    async readFileFrom(path: string, offset: number, maxBytes: number) {
      return (files.get(path) ?? Buffer.alloc(0)).subarray(offset, offset + maxBytes);
    },
    async writeFile(path: string, content: string | Buffer) {
      files.set(path, Buffer.from(content));
    },
    async renew() {},
  };
}

const lines = (...objs: object[]) => objs.map((o) => `${JSON.stringify(o)}\n`).join('');
const init = (tools: string[], status = 'connected') => ({
  type: 'system',
  subtype: 'init',
  session_id: SESSION,
  tools,
  mcp_servers: [{ name: 'ccflow', status }],
});
const success = {
  type: 'result',
  subtype: 'success',
  is_error: false,
  num_turns: 2,
  result: 'ok',
  session_id: SESSION,
  total_cost_usd: 0.01,
  usage: {},
};

function run(sandbox: Sandbox) {
  return runAgent({
    sandbox,
    runDir: '/home/user/.ccflow/runs/run-1/a1',
    argv: ['claude'],
    env: {},
    cwd: '/home/user/workspace',
    prompt: 'do it',
    timing: { ...DEFAULT_RUN_TIMING, pollIntervalMs: 1 },
    signal: new AbortController().signal,
    onProgress: () => undefined,
  });
}

async function failure(p: Promise<unknown>): Promise<CcflowFailure> {
  const err = await p.then(
    () => assert.fail('expected the run to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CcflowFailure, String(err));
  return err;
}

describe('runAgent and the result server', () => {
  test('a run whose init line lists the result tool completes', async () => {
    const summary = await run(finishedProcessSandbox(lines(init(['Bash', SUBMIT_RESULT_TOOL]), success)));
    assert.equal(summary.sessionId, SESSION);
    assert.equal(summary.numTurns, 2);
  });

  test('a result server that did not connect fails ResultServerUnavailable, with the stderr tail', async () => {
    const sandbox = finishedProcessSandbox(lines(init([], 'failed')));
    const err = await failure(run(sandbox));
    assert.equal(err.type, 'ResultServerUnavailable');
    assert.match(err.message, /did not connect \(status: failed\)/);
    assert.equal(err.details.stderrTail, 'some stderr\n');
    assert.equal(sandbox.killed, 1);
  });

  test('a connected server whose tool the agent was not offered fails ResultServerUnavailable, naming the tool', async () => {
    const err = await failure(run(finishedProcessSandbox(lines(init(['Bash', 'Read'])))));
    assert.equal(err.type, 'ResultServerUnavailable');
    assert.match(err.message, new RegExp(`the result tool ${SUBMIT_RESULT_TOOL} was not offered to the agent.*tools: Bash, Read`));
  });
});
