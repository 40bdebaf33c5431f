import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hookFilter, parseApprovalRule, parseApprovalRules, ruleMatches, type ApprovalRule } from '../../src/domain/approval-rules.js';
import { bashMatches, domainMatches, pathMatches, simpleCommands, urlHost } from '../../src/domain/approval-matchers.js';
import { canonicalJson, previewJson } from '../../src/domain/canonical-json.js';

const rule = (text: string): ApprovalRule => {
  const parsed = parseApprovalRule(text);
  assert.ok(parsed.ok, `${text}: ${parsed.ok ? '' : parsed.error}`);
  return parsed.rule;
};
const ctx = { cwd: '/home/user/workspace', home: '/home/user' };

describe('parseApprovalRule', () => {
  test('accepts the permission-rule forms a task author writes', () => {
    assert.deepEqual(rule('Bash(git push:*)'), { text: 'Bash(git push:*)', kind: 'bash', tool: 'Bash', pattern: 'git push:*' });
    assert.deepEqual(rule('Write(src/**)'), { text: 'Write(src/**)', kind: 'path', tool: 'Write', pattern: 'src/**' });
    assert.deepEqual(rule('WebFetch(domain:*.example.com)'), {
      text: 'WebFetch(domain:*.example.com)',
      kind: 'domain',
      tool: 'WebFetch',
      domain: '*.example.com',
    });
    assert.deepEqual(rule('WebFetch'), { text: 'WebFetch', kind: 'tool', tool: 'WebFetch' });
    assert.deepEqual(rule('Bash(*)'), { text: 'Bash(*)', kind: 'tool', tool: 'Bash' });
    assert.deepEqual(rule('mcp__github__create_pr'), {
      text: 'mcp__github__create_pr',
      kind: 'mcp',
      tool: 'mcp__github__create_pr',
      server: 'github',
      mcpTool: 'create_pr',
    });
    assert.deepEqual(rule('mcp__github'), { text: 'mcp__github', kind: 'mcp', tool: 'mcp__github', server: 'github' });
    assert.deepEqual(rule('mcp__github__*'), { text: 'mcp__github__*', kind: 'mcp', tool: 'mcp__github__*', server: 'github' });
    for (const ok of [
      'Bash(npm publish *)',
      'Bash(rm -rf /)',
      'Edit(/src/**)',
      'Read(~/.ssh/**)',
      'Write(//etc/**)',
      'NotebookEdit(*.ipynb)',
      'Agent',
      'WebSearch',
    ]) {
      assert.ok(parseApprovalRule(ok).ok, ok);
    }
  });

  test('refuses rules that could never fire, naming the rule and the fix', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /is empty/],
      ['bash(git push)', /unknown tool "bash"/],
      ['Bahs(git push)', /unknown tool "Bahs"/],
      ['Bash(git push', /must end with "\)"/],
      ['Bash()', /empty specifier/],
      ['Bash(:*)', /needs a command prefix/],
      ['Bash(git:* push)', /may only end/],
      ['WebFetch(https://example.com/x)', /take "domain:<host>"/],
      ['WebFetch(domain:https://example.com)', /not a host name/],
      ['WebFetch(domain:Example.com)', /not a host name/],
      ['WebSearch(cats)', /take no specifier; write just "WebSearch"/],
      ['mcp__github__create_pr(x)', /take no specifier/],
      ['mcp__ccflow__submit_result', /result tool/],
      ['mcp__ccflow', /result tool/],
      [' Bash', /leading or trailing spaces/],
      ['Bash(git push\nrm -rf /)', /control character/],
      ['Write(a)b', /must end with/],
    ];
    for (const [text, why] of cases) {
      const parsed = parseApprovalRule(text);
      assert.equal(parsed.ok, false, text);
      if (!parsed.ok) {
        assert.ok(parsed.error.startsWith(`rule ${JSON.stringify(text)}: `), parsed.error);
        assert.match(parsed.error, why);
      }
    }
  });

  test('parseApprovalRules reports every bad rule and duplicates at once', () => {
    const r = parseApprovalRules(['Bash(git push:*)', 'Nope', 'Bash(git push:*)', 'WebFetch(x)']);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.errors.length, 3);
      assert.match(r.errors[0] ?? '', /"Nope"/);
      assert.match(r.errors[1] ?? '', /listed twice/);
      assert.match(r.errors[2] ?? '', /WebFetch\(x\)/);
    }
    const ok = parseApprovalRules(['Bash(git push:*)', 'WebFetch']);
    assert.ok(ok.ok && ok.rules.length === 2);
  });
});

describe('hookFilter', () => {
  test('lets the CLI judge what its `if` can, and checks domains in the hook', () => {
    assert.deepEqual(hookFilter(rule('Bash(git push:*)')), { matcher: 'Bash', if: 'Bash(git push:*)' });
    assert.deepEqual(hookFilter(rule('Write(src/**)')), { matcher: 'Write', if: 'Write(src/**)' });
    assert.deepEqual(hookFilter(rule('WebFetch(domain:example.com)')), { matcher: 'WebFetch', domain: 'example.com' });
    assert.deepEqual(hookFilter(rule('WebFetch')), { matcher: 'WebFetch' });
    assert.deepEqual(hookFilter(rule('mcp__gh__create_pr')), { matcher: 'mcp__gh__create_pr' });
    // The CLI anchors matchers: `mcp__gh` alone would never fire (checked against 2.1.330).
    assert.deepEqual(hookFilter(rule('mcp__gh')), { matcher: 'mcp__gh__.*' });
    assert.deepEqual(hookFilter(rule('Agent')), { matcher: 'Agent|Task' });
  });
});

describe('bashMatches', () => {
  // The calls claude 2.1.330 fired `if: "Bash(git push:*)"` for, and the ones it did not
  // (approvals lab, experiment e6). ccflow's matcher must agree wherever the command is static.
  const fired = [
    'git push origin main',
    'git push',
    'cd /tmp && git push origin main',
    'git status; git push',
    'echo x | git push',
    'git  push origin',
    'GIT_DIR=x git push',
    '(git push)',
    'true || git push',
    '$(git push)',
    'git push\ngit status',
  ];
  const notFired = ['bash -c "git push"', 'git pushx', 'git -C repo push', '/usr/bin/git push', 'git status', 'echo "git push"'];

  test('legacy prefix `git push:*` agrees with the CLI on static commands', () => {
    for (const c of fired) assert.equal(bashMatches('git push:*', c), true, c);
    for (const c of notFired) assert.equal(bashMatches('git push:*', c), false, c);
  });

  test('`git push *` also matches the bare command; an exact pattern only the command', () => {
    for (const c of fired) assert.equal(bashMatches('git push *', c), true, c);
    assert.equal(bashMatches('git push', 'git push'), true);
    assert.equal(bashMatches('git push', 'git status; git push'), true);
    assert.equal(bashMatches('git push', 'git push origin main'), false);
    assert.equal(bashMatches('git push', 'git pushx'), false);
  });

  test('`*` inside a pattern is a wildcard', () => {
    assert.equal(bashMatches('git * push *', 'git -C repo push origin'), true);
    assert.equal(bashMatches('npm run *:prod', 'npm run deploy:prod'), true);
    assert.equal(bashMatches('npm run *:prod', 'npm run deploy:dev'), false);
    assert.equal(bashMatches('rm -rf *', 'rm -rf build'), true);
  });

  test('commands built at run time are not attributed to a rule (the CLI still gates them)', () => {
    assert.equal(bashMatches('git push:*', 'git $(echo push)'), false);
    assert.equal(bashMatches('git push:*', 'x=push; git $x'), false);
  });

  test('splits at operators outside quotes only', () => {
    assert.deepEqual(simpleCommands('a && b || c; d | e & f'), ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.deepEqual(simpleCommands('echo "a && b" && c'), ['echo "a && b"', 'c']);
    assert.deepEqual(simpleCommands("echo 'x;y' ; FOO=1 BAR='a b' git push"), ["echo 'x;y'", 'git push']);
    assert.deepEqual(simpleCommands('echo `git push`'), ['echo', 'git push']);
  });
});

describe('pathMatches', () => {
  // What the CLI fired `Write(src/**)`, `Write(/src/**)` and `Write(./src/**)` for (e6).
  const ws = ctx.cwd;
  test('relative, root-relative and ./ patterns are under the working directory', () => {
    for (const pattern of ['src/**', '/src/**', './src/**']) {
      assert.equal(pathMatches(pattern, `${ws}/src/app.ts`, ctx), true, pattern);
      assert.equal(pathMatches(pattern, `${ws}/src/deep/a/b.ts`, ctx), true, pattern);
      assert.equal(pathMatches(pattern, `${ws}/lib/../src/sneaky.ts`, ctx), true, pattern);
      assert.equal(pathMatches(pattern, 'src/relative.ts', ctx), true, pattern);
      assert.equal(pathMatches(pattern, `${ws}/lib/x.ts`, ctx), false, pattern);
      assert.equal(pathMatches(pattern, `${ws}/srcx/y.ts`, ctx), false, pattern);
      assert.equal(pathMatches(pattern, '/tmp/x/src/z.ts', ctx), false, pattern);
    }
  });

  test('home, absolute, basename and single-segment patterns', () => {
    assert.equal(pathMatches('~/.ssh/**', '/home/user/.ssh/id_rsa', ctx), true);
    assert.equal(pathMatches('//etc/**', '/etc/passwd', ctx), true);
    assert.equal(pathMatches('//etc/**', `${ws}/etc/passwd`, ctx), false);
    assert.equal(pathMatches('*.env', `${ws}/deep/dir/.prod.env`, ctx), true);
    assert.equal(pathMatches('*.env', '/tmp/a.env', ctx), false);
    assert.equal(pathMatches('src/*.ts', `${ws}/src/a.ts`, ctx), true);
    assert.equal(pathMatches('src/*.ts', `${ws}/src/d/a.ts`, ctx), false);
    assert.equal(pathMatches('src/', `${ws}/src/a/b.ts`, ctx), true);
    assert.equal(pathMatches('src', `${ws}/src/a/b.ts`, ctx), true);
    assert.equal(pathMatches('src/**', '/../../etc/passwd', ctx), false);
  });
});

describe('domains', () => {
  test('urlHost reads the host of a URL without the URL class', () => {
    assert.equal(urlHost('https://Example.COM/x?y'), 'example.com');
    assert.equal(urlHost('http://user:pw@sub.example.com:8443/p'), 'sub.example.com');
    assert.equal(urlHost('https://example.com./'), 'example.com');
    assert.equal(urlHost('https://[::1]:80/'), '[::1]');
    assert.equal(urlHost('example.com/x'), undefined);
    assert.equal(urlHost('https:///x'), undefined);
  });

  test('a *. pattern covers the domain and everything under it', () => {
    assert.equal(domainMatches('example.com', 'example.com'), true);
    assert.equal(domainMatches('example.com', 'sub.example.com'), false);
    assert.equal(domainMatches('*.example.com', 'sub.example.com'), true);
    assert.equal(domainMatches('*.example.com', 'example.com'), true);
    assert.equal(domainMatches('*.example.com', 'badexample.com'), false);
    assert.equal(domainMatches('example.com', 'example.org'), false);
  });
});

describe('ruleMatches', () => {
  test('each rule kind against calls of its tool and of others', () => {
    const push = { toolName: 'Bash', input: { command: 'git push origin main' } };
    assert.equal(ruleMatches(rule('Bash(git push:*)'), push, ctx), true);
    assert.equal(ruleMatches(rule('Bash'), push, ctx), true);
    assert.equal(ruleMatches(rule('Write(src/**)'), push, ctx), false);
    assert.equal(ruleMatches(rule('Bash(git push:*)'), { toolName: 'Bash', input: {} }, ctx), false);
    const write = { toolName: 'Write', input: { file_path: `${ctx.cwd}/src/a.ts`, content: '' } };
    assert.equal(ruleMatches(rule('Write(src/**)'), write, ctx), true);
    assert.equal(ruleMatches(rule('Edit(src/**)'), write, ctx), false, 'Edit rules do not cover Write, as in the CLI');
    const fetch = { toolName: 'WebFetch', input: { url: 'https://api.example.com/v1', prompt: 'p' } };
    assert.equal(ruleMatches(rule('WebFetch(domain:*.example.com)'), fetch, ctx), true);
    assert.equal(ruleMatches(rule('WebFetch(domain:example.org)'), fetch, ctx), false);
    assert.equal(ruleMatches(rule('mcp__gh'), { toolName: 'mcp__gh__create_pr', input: {} }, ctx), true);
    assert.equal(ruleMatches(rule('mcp__gh__create_pr'), { toolName: 'mcp__gh__merge', input: {} }, ctx), false);
    assert.equal(ruleMatches(rule('Agent'), { toolName: 'Task', input: {} }, ctx), true);
  });
});

describe('canonicalJson and previewJson', () => {
  test('key order does not change the canonical text', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } }), '{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    assert.equal(canonicalJson(undefined), 'null');
  });

  test('a preview stays within its bound whatever the input', () => {
    const big = { command: 'x'.repeat(100_000), nested: Array.from({ length: 1000 }, (_, i) => ({ i })) };
    const p = previewJson(big, 500);
    assert.ok(p.length <= 500, String(p.length));
    assert.match(p, /100000 chars/);
    assert.equal(previewJson({ command: 'git push' }, 500), '{"command":"git push"}');
  });
});
