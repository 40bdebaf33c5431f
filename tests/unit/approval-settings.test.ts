import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseApprovalRules } from '../../src/domain/approval-rules.js';
import {
  buildApprovalSettings,
  buildApprovalsFile,
  settingsArgs,
  APPROVAL_HOOK_TIMEOUT_SECONDS,
} from '../../src/claude/approval-settings.js';

const parsed = parseApprovalRules(['Bash(git push:*)', 'WebFetch(domain:example.com)', 'mcp__gh']);
assert.ok(parsed.ok);
const rules = parsed.rules;
const paths = {
  nodeBin: '/opt/ccflow/bin/node',
  hookPath: '/opt/ccflow/result-server/approval-hook.mjs',
  approvalsFile: '/home/user/.ccflow/approvals.json',
};

describe('buildApprovalsFile', () => {
  test('holds rules (with the hook-checked domain), remembered rules, decisions and where to park', () => {
    const f = buildApprovalsFile({
      rules,
      allowRules: ['mcp__gh'],
      decisions: { toolu_1: { decision: 'deny', reason: 'no', inputSha256: 'ab' } },
      parkFile: '/home/user/.ccflow/runs/r/a1/parked.json',
      logFile: '/home/user/.ccflow/runs/r/a1/approval-hook.jsonl',
    });
    assert.equal(f.sha256, createHash('sha256').update(f.content).digest('hex'));
    assert.deepEqual(JSON.parse(f.content), {
      version: 1,
      rules: [{ rule: 'Bash(git push:*)' }, { rule: 'WebFetch(domain:example.com)', domain: 'example.com' }, { rule: 'mcp__gh' }],
      allowRules: ['mcp__gh'],
      decisions: { toolu_1: { decision: 'deny', reason: 'no', inputSha256: 'ab' } },
      parkFile: '/home/user/.ccflow/runs/r/a1/parked.json',
      logFile: '/home/user/.ccflow/runs/r/a1/approval-hook.jsonl',
    });
  });
});

describe('buildApprovalSettings', () => {
  test('one fail-closed exec-form hook entry per rule, filtered by the CLI where it can', () => {
    const s = buildApprovalSettings({ paths, approvalsSha256: 'f'.repeat(64), rules });
    const entries = s.hooks?.PreToolUse ?? [];
    assert.equal(entries.length, 3);
    assert.deepEqual(entries[0], {
      matcher: 'Bash',
      hooks: [
        {
          type: 'command',
          command: paths.nodeBin,
          args: [paths.hookPath, paths.approvalsFile, 'f'.repeat(64), 'Bash(git push:*)'],
          timeout: APPROVAL_HOOK_TIMEOUT_SECONDS,
          onFailure: 'block',
          if: 'Bash(git push:*)',
        },
      ],
    });
    assert.equal(entries[1]?.matcher, 'WebFetch');
    assert.equal(entries[1]?.hooks[0]?.if, undefined, "the CLI's `if` never fires for domain rules");
    assert.equal(entries[2]?.matcher, 'mcp__gh__.*');
  });

  test('no rules, no hooks', () => {
    assert.deepEqual(buildApprovalSettings({ paths, approvalsSha256: 'x', rules: [] }), {});
  });
});

describe('settingsArgs', () => {
  test('always loads no settings files; ccflow settings come inline', () => {
    assert.deepEqual(settingsArgs(), ['--setting-sources', '']);
    const s = buildApprovalSettings({ paths, approvalsSha256: 'x', rules });
    const args = settingsArgs(s);
    assert.deepEqual(args.slice(0, 3), ['--setting-sources', '', '--settings']);
    assert.deepEqual(JSON.parse(args[3] ?? ''), s);
  });
});
