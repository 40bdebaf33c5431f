import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildClaudeArgs,
  buildClaudeEnv,
  buildMcpConfig,
  DEFAULT_ALLOWED_TOOLS,
  endpointEnv,
  SUBMIT_RESULT_TOOL,
} from '../../src/claude/args.js';
import { correctivePromptText, taskPromptText } from '../../src/domain/prompts.js';

const base = { claudeBin: '/opt/ccflow/bin/claude', mcpConfigPath: '/home/user/.ccflow/mcp.json', permissionMode: 'dontAsk' };

/** The value following a flag, asserting the flag is there once. */
function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at === -1) return undefined;
  assert.equal(args.lastIndexOf(name), at, `${name} given twice`);
  return args[at + 1];
}

describe('buildClaudeArgs', () => {
  test('headless stream-json with the result server, strict MCP config and the submit tool allowed', () => {
    const args = buildClaudeArgs(base);
    assert.equal(args[0], base.claudeBin);
    assert.ok(args.includes('-p'));
    assert.equal(flag(args, '--output-format'), 'stream-json');
    assert.ok(args.includes('--verbose'));
    assert.equal(flag(args, '--mcp-config'), base.mcpConfigPath);
    assert.ok(args.includes('--strict-mcp-config'));
    assert.equal(flag(args, '--permission-mode'), 'dontAsk');
    assert.deepEqual(flag(args, '--allowedTools')?.split(','), [...DEFAULT_ALLOWED_TOOLS, SUBMIT_RESULT_TOOL]);
    for (const absent of ['--model', '--max-turns', '--max-budget-usd', '--resume', '--session-id', '--append-system-prompt']) {
      assert.equal(args.includes(absent), false, absent);
    }
  });

  test('a text-result run has no MCP server and no submit tool, still strict; deltas only when asked', () => {
    const { mcpConfigPath: _none, ...noServer } = base;
    const args = buildClaudeArgs({ ...noServer, allowedTools: ['Read'] });
    assert.equal(args.includes('--mcp-config'), false);
    assert.ok(args.includes('--strict-mcp-config'), 'no MCP server from the sandbox either');
    assert.deepEqual(flag(args, '--allowedTools')?.split(','), ['Read']);
    assert.equal(args.includes('--include-partial-messages'), false);
    assert.ok(buildClaudeArgs({ ...base, includePartialMessages: true }).includes('--include-partial-messages'));
  });

  test('passes every task option, and the prompt never appears in argv', () => {
    const args = buildClaudeArgs({
      ...base,
      allowedTools: ['Read', SUBMIT_RESULT_TOOL],
      model: 'claude-opus-4',
      maxTurns: 7,
      maxBudgetUsd: 1.5,
      appendSystemPrompt: 'Be brief.',
      newSessionId: '11111111-2222-3333-4444-555555555555',
    });
    assert.deepEqual(flag(args, '--allowedTools')?.split(','), ['Read', SUBMIT_RESULT_TOOL]);
    assert.equal(flag(args, '--model'), 'claude-opus-4');
    assert.equal(flag(args, '--max-turns'), '7');
    assert.equal(flag(args, '--max-budget-usd'), '1.5');
    assert.equal(flag(args, '--append-system-prompt'), 'Be brief.');
    assert.equal(flag(args, '--session-id'), '11111111-2222-3333-4444-555555555555');
    // Variadic flags must be followed by another option, never by a stray positional.
    for (const variadic of ['--allowedTools', '--mcp-config']) {
      const next = args[args.indexOf(variadic) + 2];
      assert.ok(next === undefined || next.startsWith('-'), `${variadic} followed by ${next}`);
    }
  });

  test('loads no settings file, ever; ccflow settings (approval hooks) come inline', () => {
    const plain = buildClaudeArgs(base);
    assert.equal(flag(plain, '--setting-sources'), '', 'workspace and user settings could add hooks or widen permissions');
    assert.equal(plain.includes('--settings'), false);
    const settings = { hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [] }] } };
    const withHooks = buildClaudeArgs({ ...base, settings });
    assert.equal(flag(withHooks, '--setting-sources'), '');
    assert.deepEqual(JSON.parse(flag(withHooks, '--settings') ?? ''), settings);
  });

  test('resumes a session by id, and refuses to both resume and start one', () => {
    assert.equal(flag(buildClaudeArgs({ ...base, resumeSessionId: 'abc' }), '--resume'), 'abc');
    assert.throws(() => buildClaudeArgs({ ...base, resumeSessionId: 'a', newSessionId: 'b' }), /not both/);
  });
});

describe('buildClaudeEnv', () => {
  test('is an explicit allow-list carrying the key and endpoint, with nonessential traffic off', () => {
    process.env.CCFLOW_SHOULD_NOT_LEAK = 'leak';
    const env = buildClaudeEnv({
      home: '/home/user',
      path: '/usr/bin',
      model: endpointEnv({ baseUrl: 'http://127.0.0.1:9', apiKey: 'k' }),
    });
    assert.equal(env.ANTHROPIC_API_KEY, 'k');
    assert.equal(env.ANTHROPIC_BASE_URL, 'http://127.0.0.1:9');
    assert.equal(env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, '1');
    // The result server may start slowly on a busy host: claude waits 2 minutes, not its 30 s.
    assert.equal(env.MCP_TIMEOUT, '120000');
    assert.equal(env.HOME, '/home/user');
    assert.equal(env.CCFLOW_SHOULD_NOT_LEAK, undefined);
    assert.equal(buildClaudeEnv({ home: '/h', path: '/p', model: endpointEnv({ apiKey: 'k' }) }).ANTHROPIC_BASE_URL, undefined);
  });
});

describe('prompts and MCP config', () => {
  test('the task prompt asks for exactly one submit_result call', () => {
    const p = taskPromptText('  Fix the bug.  ');
    assert.ok(p.startsWith('Fix the bug.'));
    assert.match(p, new RegExp(`${SUBMIT_RESULT_TOOL}.*exactly once`));
  });
  test('the corrective prompt quotes each validation error', () => {
    const p = correctivePromptText({ kind: 'invalid', errors: ['summary: expected string', 'files: required'] });
    assert.match(p, /- summary: expected string\n- files: required/);
    assert.match(correctivePromptText({ kind: 'missing' }), /without a successful call/);
  });
  test('the MCP config starts the result server over stdio with its files in env', () => {
    const c = buildMcpConfig({ nodeBin: '/n', serverPath: '/s.mjs', schemaFile: '/a', resultFile: '/b', attemptsFile: '/c' });
    assert.deepEqual(c.mcpServers.ccflow, {
      type: 'stdio',
      // Without it claude 2.1.330 defers submit_result behind ToolSearch.
      alwaysLoad: true,
      command: '/n',
      args: ['/s.mjs'],
      env: { CCFLOW_RESULT_SCHEMA_FILE: '/a', CCFLOW_RESULT_FILE: '/b', CCFLOW_RESULT_ATTEMPTS_FILE: '/c' },
    });
  });
});
