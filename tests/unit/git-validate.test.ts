import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRepoUrl, identityIssues, pushInputIssues, refProblem, repoInputIssues } from '../../src/domain/git.js';

const kind = (url: string) => {
  const r = classifyRepoUrl(url);
  return 'kind' in r ? r.kind : `error: ${r.error}`;
};

describe('repo url', () => {
  test('accepts the supported locations', () => {
    assert.equal(kind('https://github.com/org/repo.git'), 'https');
    assert.equal(kind('https://git.example.com:8443/org/repo'), 'https');
    assert.equal(kind('http://127.0.0.1:8080/repo.git'), 'http');
    assert.equal(kind('ssh://git@github.com/org/repo.git'), 'ssh');
    assert.equal(kind('ssh://git@[::1]:2222/repo.git'), 'ssh');
    assert.equal(kind('git://127.0.0.1:9418/repo.git'), 'git');
    assert.equal(kind('file:///srv/git/repo.git'), 'file');
    assert.equal(kind('git@github.com:org/repo.git'), 'scp');
    assert.equal(kind('/srv/git/repo'), 'path');
  });

  test('refuses what git would run, misread or leak', () => {
    assert.match(kind('ext::sh -c touch% /tmp/pwned'), /^error: .*whitespace/);
    assert.match(kind('ext::sh'), /remote-helper URLs/);
    assert.match(kind('fd::17'), /remote-helper URLs/);
    assert.match(kind('--upload-pack=touch /tmp/x'), /must not start with "-"/);
    assert.match(kind('ftp://example.com/repo.git'), /unsupported URL scheme "ftp:"/);
    assert.match(kind('https://alice:hunter2@github.com/org/repo.git'), /must not carry a password/);
    assert.match(kind('ssh://-oProxyCommand=touch/x'), /not a valid host name/);
    assert.match(kind('git@github.com:-oProxyCommand'), /^error:/);
    assert.match(kind('https://github.com'), /must name a repository path/);
    assert.match(kind('https://github.com/org/repo;rm -rf'), /shell metacharacters/);
    assert.match(kind('https://github.com/org/$(id)'), /shell metacharacters/);
    assert.match(kind('relative/path'), /^error:/);
    assert.match(kind('../up'), /^error:/);
    assert.match(kind('/srv/../etc'), /"\.\."/);
    assert.match(kind('file://relative'), /absolute path/);
    assert.match(kind(''), /must not be empty/);
  });
});

describe('ref', () => {
  test('accepts branch, tag, full ref and commit id', () => {
    for (const ok of ['main', 'feature/x-1', 'v1.2.3', 'refs/heads/main', 'refs/pull/12/head', 'fix#12', 'a'.repeat(40), 'f'.repeat(64)]) {
      assert.equal(refProblem(ok), undefined, ok);
    }
  });

  test('refuses shell metacharacters, options and what check-ref-format refuses', () => {
    const cases: Array<[string, RegExp]> = [
      ['main; rm -rf /', /shell metacharacters/],
      ['$(whoami)', /shell metacharacters/],
      ['`id`', /shell metacharacters/],
      ['a|b', /shell metacharacters/],
      ['a&b', /shell metacharacters/],
      ['--upload-pack=x', /must not start with "-"/],
      ['-b', /must not start with "-"/],
      ['a..b', /must not contain "\.\."/],
      ['a b', /whitespace/],
      ['a\nb', /whitespace/],
      ['HEAD~1', /~/],
      ['a^', /~\^/],
      ['a:b', /~\^:/],
      ['x@{1}', /shell metacharacters|"@\{"/],
      ['.hidden', /start with "\."/],
      ['a/.b', /start with "\."/],
      ['a.lock', /\.lock/],
      ['a/', /end with/],
      ['a//b', /empty path components/],
      ['@', /must not be "@"/],
      ['', /must not be empty/],
    ];
    for (const [ref, re] of cases) assert.match(refProblem(ref) ?? 'accepted', re, JSON.stringify(ref));
  });
});

describe('repo and push input', () => {
  test('names the field of every problem', () => {
    assert.deepEqual(repoInputIssues({ url: 'https://github.com/o/r' }), []);
    assert.deepEqual(
      repoInputIssues({ url: 'ext::sh', ref: 'a;b', depth: -1 }).map((i) => i.path.join('.')),
      ['url', 'ref', 'depth'],
    );
    assert.deepEqual(repoInputIssues({ url: '/x', depth: 0 }), []);
    assert.equal(repoInputIssues({ url: '/x', depth: 1.5 })[0]?.path[0], 'depth');
  });

  test('push wants a branch name and a supported remote', () => {
    assert.deepEqual(pushInputIssues({ branch: 'ccflow/fix-1' }), []);
    assert.match(pushInputIssues({ branch: 'refs/heads/x' })[0]!.message, /not a full ref/);
    assert.match(pushInputIssues({ branch: 'HEAD' })[0]!.message, /not HEAD/);
    assert.match(pushInputIssues({ branch: 'a'.repeat(40) })[0]!.message, /not a commit id/);
    assert.deepEqual(
      pushInputIssues({ branch: 'x', remote: 'ext::sh' }).map((i) => i.path[0]),
      ['remote'],
    );
  });

  test('identity has no newlines or brackets', () => {
    assert.deepEqual(identityIssues({ name: 'ccflow agent', email: 'agent@ccflow.invalid' }), []);
    assert.deepEqual(
      identityIssues({ name: 'a\nb', email: 'x' }).map((i) => i.path[0]),
      ['name', 'email'],
    );
    assert.deepEqual(
      identityIssues({ name: 'a <b>', email: 'a@b' }).map((i) => i.path[0]),
      ['name'],
    );
  });
});
