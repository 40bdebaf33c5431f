/**
 * The in-sandbox approval hook (sandbox-template/result-server/approval-hook.mjs), run as the
 * CLI runs it: a node process with the call as JSON on stdin and the answer on stdout.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/home.js';
import { domainMatches, urlHost } from '../../src/domain/approval-matchers.js';
import { parseApprovalRules } from '../../src/domain/approval-rules.js';
import { buildApprovalsFile, inputSha256, type HookDecision } from '../../src/claude/approval-settings.js';

const HOOK = path.join(PACKAGE_ROOT, 'sandbox-template', 'result-server', 'approval-hook.mjs');

interface Answer {
  status: number | null;
  decision?: string;
  reason?: string;
  stdout: string;
  stderr: string;
}

/** A task's approvals state in a temp dir, and a way to call the hook against it. */
function setup(o: { rules?: string[]; allowRules?: string[]; decisions?: Record<string, HookDecision> } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ccflow-hook-'));
  const parsed = parseApprovalRules(o.rules ?? ['Bash(git push:*)', 'WebFetch(domain:*.example.com)']);
  assert.ok(parsed.ok);
  const file = path.join(dir, 'approvals.json');
  const parkFile = path.join(dir, 'run', 'parked.json');
  const logFile = path.join(dir, 'hook.jsonl');
  const built = buildApprovalsFile({
    rules: parsed.rules,
    allowRules: o.allowRules ?? [],
    decisions: o.decisions ?? {},
    parkFile,
    logFile,
  });
  writeFileSync(file, built.content);
  const call = (rule: string, input: Record<string, unknown>, argv?: string[]): Answer => {
    const r = spawnSync(process.execPath, [HOOK, ...(argv ?? [file, built.sha256, rule])], {
      input: JSON.stringify({ session_id: 's', hook_event_name: 'PreToolUse', permission_mode: 'dontAsk', ...input }),
      encoding: 'utf8',
    });
    const parsedOut = r.stdout
      ? (JSON.parse(r.stdout) as {
          hookSpecificOutput: { hookEventName: string; permissionDecision: string; permissionDecisionReason?: string };
        })
      : undefined;
    if (parsedOut) assert.equal(parsedOut.hookSpecificOutput.hookEventName, 'PreToolUse', 'the CLI ignores an answer without it');
    return {
      status: r.status,
      decision: parsedOut?.hookSpecificOutput.permissionDecision,
      reason: parsedOut?.hookSpecificOutput.permissionDecisionReason,
      stdout: r.stdout,
      stderr: r.stderr,
    };
  };
  const log = () =>
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { outcome: string; rule: string; toolUseId: string })
      : [];
  return { dir, file, sha: built.sha256, parkFile, call, log };
}

const push = (id: string, command = 'git push origin main', extra: Record<string, unknown> = {}) => ({
  tool_use_id: id,
  tool_name: 'Bash',
  tool_input: { command, description: 'push' },
  ...extra,
});

describe('approval hook', () => {
  test('parks the first call of a run, and answers defer again for the same call under a second rule', () => {
    const s = setup({ rules: ['Bash(git push:*)', 'Bash(git push --force:*)'] });
    const a = s.call('Bash(git push:*)', push('toolu_1', 'git push --force'));
    assert.equal(a.status, 0);
    assert.equal(a.decision, 'defer');
    const b = s.call('Bash(git push --force:*)', push('toolu_1', 'git push --force'));
    assert.equal(b.decision, 'defer');
    const parked = JSON.parse(readFileSync(s.parkFile, 'utf8')) as Record<string, string>;
    assert.equal(parked.toolUseId, 'toolu_1');
    assert.equal(parked.inputSha256, inputSha256({ command: 'git push --force', description: 'push' }));
    assert.deepEqual(
      s.log().map((l) => `${l.outcome}:${l.rule}`),
      ['parked:Bash(git push:*)', 'parked:Bash(git push --force:*)'],
    );
  });

  test('denies a second gated call while one is parked, telling the model to retry later', () => {
    const s = setup();
    assert.equal(s.call('Bash(git push:*)', push('toolu_1')).decision, 'defer');
    const second = s.call('Bash(git push:*)', push('toolu_2', 'git push origin dev'));
    assert.equal(second.decision, 'deny');
    assert.match(second.reason ?? '', /another action is already waiting for approval/);
  });

  test('a human decision for the call: allow runs it, deny carries the reason', () => {
    const input = { command: 'git push origin main', description: 'push' };
    const s = setup({
      decisions: {
        toolu_ok: { decision: 'allow', inputSha256: inputSha256(input) },
        toolu_no: { decision: 'deny', reason: 'not on a Friday', inputSha256: inputSha256(input) },
        toolu_bare: { decision: 'deny', inputSha256: inputSha256(input) },
      },
    });
    assert.equal(s.call('Bash(git push:*)', push('toolu_ok')).decision, 'allow');
    const no = s.call('Bash(git push:*)', push('toolu_no'));
    assert.equal(no.decision, 'deny');
    assert.equal(no.reason, 'A human reviewer denied this action: not on a Friday');
    assert.equal(s.call('Bash(git push:*)', push('toolu_bare')).reason, 'A human reviewer denied this action.');
    assert.equal(existsSync(s.parkFile), false, 'answered calls are not parked');
  });

  test('an approval binds to the input the human saw: a different input is denied', () => {
    const s = setup({
      decisions: { toolu_ok: { decision: 'allow', inputSha256: inputSha256({ command: 'git push origin main', description: 'push' }) } },
    });
    const a = s.call('Bash(git push:*)', push('toolu_ok', 'git push --force origin main'));
    assert.equal(a.decision, 'deny');
    assert.match(a.reason ?? '', /differs from the one a human approved/);
  });

  test('the hash ignores key order, as the worker computes it', () => {
    const s = setup({
      decisions: { toolu_ok: { decision: 'allow', inputSha256: inputSha256({ description: 'push', command: 'git push' }) } },
    });
    assert.equal(
      s.call('Bash(git push:*)', { tool_use_id: 'toolu_ok', tool_name: 'Bash', tool_input: { command: 'git push', description: 'push' } })
        .decision,
      'allow',
    );
  });

  test('a rule remembered for the session is allowed without parking, even in a subagent', () => {
    const s = setup({ allowRules: ['Bash(git push:*)'] });
    assert.equal(s.call('Bash(git push:*)', push('toolu_1')).decision, 'allow');
    assert.equal(
      s.call('Bash(git push:*)', push('toolu_2', 'git push', { agent_id: 'a1', agent_type: 'general-purpose' })).decision,
      'allow',
    );
    assert.equal(existsSync(s.parkFile), false);
  });

  test("a subagent's gated call is denied: the CLI would drop it silently if deferred", () => {
    const s = setup();
    const a = s.call('Bash(git push:*)', push('toolu_1', 'git push', { agent_id: 'a9b9221ae09832386', agent_type: 'general-purpose' }));
    assert.equal(a.decision, 'deny');
    assert.match(a.reason ?? '', /subagent/);
    assert.equal(existsSync(s.parkFile), false);
  });

  test('WebFetch domain rules are judged in the hook: another host gets no opinion', () => {
    const s = setup();
    const other = s.call('WebFetch(domain:*.example.com)', {
      tool_use_id: 'toolu_w1',
      tool_name: 'WebFetch',
      tool_input: { url: 'https://example.org/', prompt: 'p' },
    });
    assert.equal(other.status, 0);
    assert.equal(other.stdout, '', 'no answer: the usual permissions decide');
    const unreadable = s.call('WebFetch(domain:*.example.com)', {
      tool_use_id: 'toolu_w2',
      tool_name: 'WebFetch',
      tool_input: { url: 'not a url', prompt: 'p' },
    });
    assert.equal(unreadable.decision, 'defer', 'a URL whose host cannot be read is gated');
  });

  test('the hook and the domain module agree on hosts and domains', () => {
    const urls = [
      'https://example.com/',
      'https://API.Example.com:8443/x',
      'http://u:p@deep.sub.example.com/',
      'https://badexample.com/',
      'https://example.com.evil.org/',
      'https://example.com./',
    ];
    for (const pattern of ['example.com', '*.example.com']) {
      const s = setup({ rules: [`WebFetch(domain:${pattern})`] });
      urls.forEach((url, i) => {
        const host = urlHost(url);
        const expected = host !== undefined && domainMatches(pattern, host);
        const a = s.call(`WebFetch(domain:${pattern})`, {
          tool_use_id: `toolu_${i}`,
          tool_name: 'WebFetch',
          tool_input: { url, prompt: 'p' },
        });
        // Parked or busy both mean "gated"; no output means "not this rule".
        assert.equal(a.stdout !== '', expected, `${pattern} ${url}`);
      });
    }
  });

  test('fails closed: a changed approvals file, a wrong hash, an unknown rule or bad input deny the call', () => {
    const s = setup();
    const tampered = JSON.parse(readFileSync(s.file, 'utf8')) as { allowRules: string[] };
    tampered.allowRules.push('Bash(git push:*)');
    writeFileSync(s.file, JSON.stringify(tampered));
    const a = s.call('Bash(git push:*)', push('toolu_1'));
    assert.equal(a.decision, 'deny');
    assert.match(a.reason ?? '', /does not match the one ccflow wrote/);

    const fresh = setup();
    const cases: Array<[string[] | undefined, string, string]> = [
      [[fresh.file, '0'.repeat(64), 'Bash(git push:*)'], 'Bash(git push:*)', 'does not match'],
      [[path.join(fresh.dir, 'missing.json'), fresh.sha, 'Bash(git push:*)'], 'Bash(git push:*)', 'ENOENT'],
      [undefined, 'Bash(rm:*)', 'not one of this task'],
      [[fresh.file], 'x', 'usage'],
    ];
    for (const [argv, rule, why] of cases) {
      const r = fresh.call(rule, push('toolu_x'), argv);
      assert.equal(r.status, 0);
      assert.equal(r.decision, 'deny', why);
      assert.match(r.reason ?? '', new RegExp(why));
    }
    const garbage = spawnSync(process.execPath, [HOOK, fresh.file, fresh.sha, 'Bash(git push:*)'], { input: '{oops', encoding: 'utf8' });
    assert.equal(JSON.parse(garbage.stdout).hookSpecificOutput.permissionDecision, 'deny');
  });

  test('an unwritable parking spot denies instead of letting the call through', () => {
    const s = setup();
    writeFileSync(path.join(s.dir, 'run'), 'a file where the run directory should be');
    const a = s.call('Bash(git push:*)', push('toolu_1'));
    assert.equal(a.decision, 'deny');
    assert.match(a.reason ?? '', /could not check this action/);
  });
});
