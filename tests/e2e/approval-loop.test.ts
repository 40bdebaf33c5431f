/**
 * The approval mechanism end to end with ccflow's own pieces and no workflow: the approval
 * hook defers a gated call, the run ends waiting, the session is saved and the sandbox
 * destroyed; later a fresh sandbox is restored, the approvals file carries the human's
 * decision, and `claude --resume` with empty stdin runs (or refuses) the call and carries on.
 * Real claude, real bubblewrap, the scripted model recording what the CLI sends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createSandboxAccess } from '../../src/activities/sandboxes.js';
import { createSessionActivities } from '../../src/activities/sessions.js';
import { LocalArtifactStore } from '../../src/artifacts/local.js';
import { buildApprovalSettings, buildApprovalsFile, settingsArgs, type HookDecision } from '../../src/claude/approval-settings.js';
import { buildClaudeArgs, buildClaudeEnv, buildMcpConfig, SUBMIT_RESULT_TOOL } from '../../src/claude/args.js';
import { classifyRunEnd, type RunEnd } from '../../src/claude/deferred.js';
import { DEFAULT_RUN_TIMING, runAgent, runFiles } from '../../src/claude/runner.js';
import { RunState } from '../../src/claude/run-state.js';
import { StreamJsonParser } from '../../src/claude/stream.js';
import { parseApprovalRules } from '../../src/domain/approval-rules.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/index.js';
import { startModelServer, parseScript, type ModelServer } from '../../src/testing/model/index.js';
import { localSandboxMounts } from '../../src/worker/config.js';
import {
  SANDBOX_CCFLOW_DIR,
  SANDBOX_CLAUDE_BIN,
  SANDBOX_FILES,
  SANDBOX_HOME,
  SANDBOX_NODE_BIN,
  SANDBOX_PATH,
  SANDBOX_RESULT_SERVER,
  SANDBOX_RESULT_SERVER_DIR,
  SANDBOX_WORKDIR,
} from '../../src/sandbox/layout.js';
import type { Sandbox } from '../../src/sandbox/types.js';
import { processesWithKey, TEST_API_KEY } from '../helpers/harness.js';

const HOOK = `${SANDBOX_RESULT_SERVER_DIR}/approval-hook.mjs`;
const APPROVALS_FILE = `${SANDBOX_CCFLOW_DIR}/approvals.json`;
const RULES = ['Bash(git push:*)'];
const PUSH = 'git push origin main 2>/dev/null; echo pushed > pushed.txt';

const script = {
  conversations: ['allow', 'deny'].map((name) => ({
    match: `^\\[loop-${name}\\]`,
    steps: [
      { text: 'Pushing the branch.', toolUse: [{ name: 'Bash', input: { command: PUSH, description: 'push' } }] },
      { toolUse: [{ name: SUBMIT_RESULT_TOOL, input: { summary: `${name}: carried on after the decision` } }] },
      { text: 'Done.' },
    ],
  })),
};

let tmp: string;
let model: ModelServer;
let provider: LocalSandboxProvider;
let artifacts: LocalArtifactStore;
const apiKey = `${TEST_API_KEY}-loop`;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-approval-loop-'));
  model = await startModelServer({ script: parseScript(script) });
  provider = new LocalSandboxProvider({ rootDir: path.join(tmp, 'sandboxes'), mounts: localSandboxMounts() });
  artifacts = new LocalArtifactStore(path.join(tmp, 'artifacts'));
});

after(async () => {
  await model.close();
  await rm(tmp, { recursive: true, force: true });
  assert.deepEqual(model.refusals(), []);
});

const sessions = () =>
  createSessionActivities({ sandboxes: createSandboxAccess({ local: provider }), providers: { local: provider }, artifacts });
const inActivity = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
  new MockActivityEnvironment({ workflowExecution: { workflowId: `loop-${path.basename(tmp)}`, runId: 'r' } }).run(fn, ...args);

/** One agent run in `sandbox`, set up the way ccflow runs it, with the given decisions. */
async function agentRun(
  sandbox: Sandbox,
  o: { name: string; prompt: string; decisions: Record<string, HookDecision>; resume?: string; newSession?: string },
): Promise<{ end: RunEnd; sessionId: string; pid: number | undefined; runDir: string }> {
  const parsed = parseApprovalRules(RULES);
  assert.ok(parsed.ok);
  const runDir = `${SANDBOX_CCFLOW_DIR}/runs/${o.name}/a1`;
  const files = { schema: SANDBOX_FILES.resultSchema, result: SANDBOX_FILES.result, mcp: SANDBOX_FILES.mcpConfig };
  await sandbox.writeFile(
    files.schema,
    JSON.stringify({ type: 'object', properties: { summary: { type: 'string' } }, required: ['summary'] }),
  );
  await sandbox.writeFile(
    files.mcp,
    JSON.stringify(
      buildMcpConfig({
        nodeBin: SANDBOX_NODE_BIN,
        serverPath: SANDBOX_RESULT_SERVER,
        schemaFile: files.schema,
        resultFile: files.result,
        attemptsFile: SANDBOX_FILES.attempts,
      }),
    ),
  );
  const approvals = buildApprovalsFile({
    rules: parsed.rules,
    allowRules: [],
    decisions: o.decisions,
    parkFile: `${runDir}/parked.json`,
    logFile: `${runDir}/approval-hook.jsonl`,
  });
  await sandbox.writeFile(APPROVALS_FILE, approvals.content);
  const argv = [
    ...buildClaudeArgs({
      claudeBin: SANDBOX_CLAUDE_BIN,
      mcpConfigPath: files.mcp,
      permissionMode: 'dontAsk',
      resumeSessionId: o.resume,
      newSessionId: o.newSession,
    }),
    ...settingsArgs(
      buildApprovalSettings({
        paths: { nodeBin: SANDBOX_NODE_BIN, hookPath: HOOK, approvalsFile: APPROVALS_FILE },
        approvalsSha256: approvals.sha256,
        rules: parsed.rules,
      }),
    ),
  ];
  let pid: number | undefined;
  const summary = await runAgent({
    sandbox,
    runDir,
    argv,
    env: buildClaudeEnv({ home: SANDBOX_HOME, path: SANDBOX_PATH, model: { baseUrl: model.url, apiKey } }),
    cwd: SANDBOX_WORKDIR,
    prompt: o.prompt,
    timing: { ...DEFAULT_RUN_TIMING, pollIntervalMs: 50 },
    signal: new AbortController().signal,
    onProgress: (p) => (pid = p.pid),
  });
  // The runner's summary predates deferral: read the result line it followed.
  const state = new RunState();
  const parser = new StreamJsonParser();
  const out = (await sandbox.readFile(runFiles(runDir).stdout)) ?? Buffer.alloc(0);
  for (const e of [...parser.push(out), ...parser.end()]) state.apply(e);
  assert.ok(state.result, 'the run printed a result line');
  return { end: classifyRunEnd(state.result), sessionId: summary.sessionId, pid, runDir };
}

/** The tool_result the CLI sent the model for `toolUseId`, from the recorded requests. */
function toolResultSent(toolUseId: string): { is_error?: boolean; content: string } | undefined {
  for (const r of model.requests) {
    const messages = (r.body as { messages?: Array<{ content: unknown }> }).messages ?? [];
    for (const m of messages) {
      if (!Array.isArray(m.content)) continue;
      for (const b of m.content as Array<Record<string, unknown>>) {
        if (b.type === 'tool_result' && b.tool_use_id === toolUseId) {
          return {
            is_error: b.is_error as boolean | undefined,
            content: typeof b.content === 'string' ? b.content : JSON.stringify(b.content),
          };
        }
      }
    }
  }
  return undefined;
}

async function workspaceTarballLists(file: string): Promise<boolean> {
  const tarball = await artifacts.get(`loop-${path.basename(tmp)}`, 'session/workspace.tar.gz');
  assert.ok(tarball, 'the workspace was saved');
  const at = path.join(tmp, 'ws.tar.gz');
  await writeFile(at, tarball);
  return execFileSync('tar', ['-tzf', at], { encoding: 'utf8' }).split('\n').includes(`./${file}`);
}

for (const decision of ['allow', 'deny'] as const) {
  describe(`approval loop: ${decision}`, () => {
    test('defer, save, destroy, restore, resume with the decision', async () => {
      const first = await provider.create({ metadata: { owner: 'ccflow-test' } });
      const run1 = await agentRun(first, {
        name: 'run-1',
        prompt: `[loop-${decision}] push the branch`,
        decisions: {},
        newSession: crypto.randomUUID(),
      });
      assert.equal(run1.end.kind, 'deferred', JSON.stringify(run1.end));
      if (run1.end.kind !== 'deferred') return;
      const call = run1.end.call;
      assert.equal(call.toolName, 'Bash');
      assert.deepEqual(call.input, { command: PUSH, description: 'push' });
      assert.equal(await first.readFile(`${SANDBOX_WORKDIR}/pushed.txt`), undefined, 'the gated command did not run');
      assert.equal(toolResultSent(call.toolUseId), undefined, 'the model has not been answered yet');
      // Waiting holds no process: the CLI exited and nothing in the sandbox carries the key.
      assert.ok(run1.pid !== undefined);
      assert.equal((await first.processState(run1.pid, runFiles(run1.runDir).exitCode)).state, 'exited');
      assert.deepEqual(await processesWithKey(apiKey), []);

      await inActivity(sessions().saveSession, { sandboxId: first.sandboxId, provider: 'local', sessionId: run1.sessionId, turn: 1 });
      await provider.destroy(first.sandboxId);

      const second = await provider.create({ metadata: { owner: 'ccflow-test' } });
      try {
        await inActivity(sessions().restoreSession, {
          sandboxId: second.sandboxId,
          provider: 'local',
          fromWorkflowId: `loop-${path.basename(tmp)}`,
        });
        const reason = 'pushing to main needs a pull request';
        const run2 = await agentRun(second, {
          name: 'run-2',
          prompt: '',
          resume: run1.sessionId,
          decisions: {
            [call.toolUseId]:
              decision === 'allow'
                ? { decision: 'allow', inputSha256: call.inputSha256 }
                : { decision: 'deny', reason, inputSha256: call.inputSha256 },
          },
        });
        assert.deepEqual(run2.end, { kind: 'completed' });
        assert.equal(run2.sessionId, run1.sessionId, 'the same session went on');
        const sent = toolResultSent(call.toolUseId);
        assert.ok(sent, 'the model got an answer for the held call');
        const result = JSON.parse((await second.readFile(`${SANDBOX_CCFLOW_DIR}/result.json`))?.toString('utf8') ?? 'null') as {
          summary?: string;
        };
        assert.equal(result.summary, `${decision}: carried on after the decision`);
        await inActivity(sessions().saveSession, { sandboxId: second.sandboxId, provider: 'local', sessionId: run2.sessionId, turn: 2 });
        if (decision === 'allow') {
          assert.notEqual(sent.is_error, true, sent.content);
          assert.equal((await second.readFile(`${SANDBOX_WORKDIR}/pushed.txt`))?.toString('utf8'), 'pushed\n');
          assert.equal(await workspaceTarballLists('pushed.txt'), true, 'the file the command wrote is in the saved workspace');
        } else {
          assert.equal(sent.is_error, true);
          assert.match(sent.content, new RegExp(`A human reviewer denied this action: ${reason}`));
          assert.equal(await second.readFile(`${SANDBOX_WORKDIR}/pushed.txt`), undefined);
          assert.equal(await workspaceTarballLists('pushed.txt'), false);
        }
      } finally {
        await provider.destroy(second.sandboxId);
      }
    });
  });
}
