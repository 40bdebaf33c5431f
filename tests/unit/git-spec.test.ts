import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { commitMessage, taskBranchName, refProblem } from '../../src/domain/git.js';
import { describeZodError } from '../../src/schemas/describe-error.js';
import { checkPipelineSpec } from '../../src/schemas/pipeline-spec.js';
import { TaskSpec } from '../../src/schemas/task-spec.js';
import { parseBytes, parseCredentials, loadGitConfig } from '../../src/worker/git-config.js';

const errorsOf = (input: unknown): string => {
  const r = TaskSpec.safeParse(input);
  assert.equal(r.success, false, `expected ${JSON.stringify(input)} to be rejected`);
  return describeZodError(r.error!);
};

describe('repo and push in the TaskSpec', () => {
  test('a good repo and push pass', () => {
    const spec = TaskSpec.parse({
      prompt: 'x',
      repo: {
        url: 'git@github.com:org/app.git',
        ref: 'v1.2',
        depth: 0,
        author: { name: 'Ada', email: 'ada@example.com' },
        message: 'Agent work',
      },
      push: { branch: 'ccflow/fix-1', remote: 'https://github.com/me/app.git' },
    });
    assert.equal(spec.repo?.depth, 0);
  });

  test('malformed input is refused naming the field', () => {
    assert.match(errorsOf({ prompt: 'x', repo: { url: 'ext::sh -c id' } }), /^repo\.url: must not contain whitespace/);
    assert.match(errorsOf({ prompt: 'x', repo: { url: 'ftp://host/r.git' } }), /^repo\.url: unsupported URL scheme "ftp:"/);
    assert.match(errorsOf({ prompt: 'x', repo: { url: 'https://u:p@host/r.git' } }), /^repo\.url: must not carry a password/);
    assert.match(
      errorsOf({ prompt: 'x', repo: { url: '/srv/r.git', ref: '$(reboot)' } }),
      /^repo\.ref: must not contain .*shell metacharacters/,
    );
    assert.match(errorsOf({ prompt: 'x', repo: { url: '/srv/r.git', ref: '--upload-pack=id' } }), /^repo\.ref: must not start with "-"/);
    assert.match(errorsOf({ prompt: 'x', repo: { url: '/srv/r.git', depth: -1 } }), /^repo\.depth: must be an integer from 0/);
    assert.match(errorsOf({ prompt: 'x', repo: { url: '/srv/r.git', token: 'abc' } }), /^repo\.token: unknown field/);
    assert.match(
      errorsOf({ prompt: 'x', repo: { url: '/srv/r.git', author: { name: 'a\nb', email: 'x' } } }),
      /repo\.author\.name: .*repo\.author\.email:/,
    );
    assert.match(errorsOf({ prompt: 'x', push: { branch: 'b' } }), /^push: needs repo/);
    assert.match(
      errorsOf({ prompt: 'x', repo: { url: '/srv/r.git' }, push: { branch: 'refs/heads/b' } }),
      /^push\.branch: must be a branch name/,
    );
    assert.match(
      errorsOf({ prompt: 'x', repo: { url: '/srv/r.git' }, continueFrom: { workflowId: 'w' } }),
      /^repo: not allowed with continueFrom/,
    );
  });

  test('a pipeline gives repo to fresh steps only; steps that carry another step keep its repository', () => {
    const checked = checkPipelineSpec({
      defaults: { repo: { url: '/srv/r.git' } },
      steps: [
        { name: 'a', prompt: 'x' },
        { name: 'b', prompt: 'y', dependsOn: 'a', session: 'continue:a', push: { branch: 'b' } },
      ],
    });
    assert.ok(checked.ok, checked.ok ? '' : checked.errors.join('\n'));
    if (!checked.ok) return;
    assert.deepEqual(checked.plan.steps[0]?.task.repo, { url: '/srv/r.git' });
    assert.equal(checked.plan.steps[1]?.task.repo, undefined);
    const own = checkPipelineSpec({
      steps: [
        { name: 'a', prompt: 'x', repo: { url: '/srv/r.git' } },
        { name: 'b', prompt: 'y', dependsOn: 'a', workspace: 'from:a', repo: { url: '/srv/other.git' } },
      ],
    });
    assert.equal(own.ok, false);
    assert.match(own.ok ? '' : own.errors.join('\n'), /step "b": repo: not allowed with session\/workspace from step "a"/);
  });
});

describe('task branch and commit message', () => {
  test('any workflow id makes a valid branch name', () => {
    for (const id of ['task-1', 'pipeline-9.fix', 'weird id/with..dots@{x}', '..', '-lead', 'x.lock']) {
      const branch = taskBranchName(id);
      assert.equal(refProblem(branch), undefined, `${id} → ${branch}`);
      assert.ok(branch.startsWith('ccflow/'));
    }
  });

  test("the prompt's first line and the task, or the task's own message", () => {
    assert.equal(
      commitMessage({ prompt: 'Add a flag\nwith details', workflowId: 'w1', turn: 2 }),
      'Add a flag\n\nccflow task w1, turn 2\n',
    );
    assert.equal(commitMessage({ prompt: 'x', workflowId: 'w1', turn: 1, message: 'Mine' }), 'Mine');
    assert.equal(commitMessage({ prompt: 'y'.repeat(100), workflowId: 'w', turn: 1 }).split('\n')[0]?.length, 72);
  });
});

describe("the worker's git configuration", () => {
  test('credentials are scoped to their URL and never echoed when malformed', () => {
    assert.deepEqual(parseCredentials('https://x-access-token:gh%40s3cret@github.com\n https://bob:pw@git.example.com/team/'), [
      { url: 'https://github.com', username: 'x-access-token', password: 'gh@s3cret' },
      { url: 'https://git.example.com/team/', username: 'bob', password: 'pw' },
    ]);
    assert.throws(
      () => parseCredentials('not a url s3cret'),
      (e: Error) => !e.message.includes('s3cret'),
    );
    assert.throws(() => parseCredentials('https://nopassword@github.com'), /must be https:\/\/user:token@host/);
  });

  test('only what git needs of the environment reaches git', () => {
    const cfg = loadGitConfig({
      PATH: '/bin',
      HOME: '/h',
      SSH_AUTH_SOCK: '/s',
      ANTHROPIC_API_KEY: 'k',
      E2B_API_KEY: 'e',
      GIT_SSH_COMMAND: 'ssh -i k',
      https_proxy: 'p',
    });
    assert.deepEqual(Object.keys(cfg.env).sort(), ['GIT_SSH_COMMAND', 'HOME', 'PATH', 'SSH_AUTH_SOCK', 'https_proxy']);
    assert.equal(parseBytes('500M', 'X'), 500 * 1024 * 1024);
    assert.equal(parseBytes('2G', 'X'), 2 * 1024 ** 3);
    assert.throws(() => parseBytes('lots', 'CCFLOW_GIT_MAX_BYTES'), /CCFLOW_GIT_MAX_BYTES must be a size/);
  });
});
