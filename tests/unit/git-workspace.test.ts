import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  GitError,
  adoptWorkspace,
  applyPatch,
  captureChange,
  createGitHost,
  createSeedBundle,
  fetchRepo,
  loadBundles,
  materialize,
  pushCommit,
  seedWorkspace,
  type BaseBundle,
  type CapturedChange,
  type GitHost,
  type WorkspaceLayout,
} from '../../src/git/index.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { bytes, hostRunner, makeRepo, testGit, type FixtureRepo, type TestGit } from '../helpers/git-fixtures.js';

const identity = { name: 'ccflow agent', email: 'agent@ccflow.invalid' };
const BRANCH = 'ccflow/task-1';

/** path → [mode, content] of every file git would track (no .git, no ignored files). */
async function trackedTree(git: TestGit, dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const list = (await git(['-C', dir, 'ls-files', '-z'])).split('\0').filter((p) => p !== '');
  for (const p of list) {
    const full = path.join(dir, p);
    const st = await stat(full);
    out.set(p, `${(st.mode & 0o111) !== 0 ? 'x' : '-'} ${(await readFile(full)).toString('base64')}`);
  }
  return out;
}

/** `git diff --numstat -M` computed independently, as path → "ins del". */
async function numstat(git: TestGit, dir: string, from: string, to: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const line of (await git(['-C', dir, 'diff', '--numstat', '-M', from, to])).split('\n')) {
    const m = /^(\S+)\t(\S+)\t(.+)$/.exec(line);
    if (!m) continue;
    // "old => new" and "dir/{old => new}" name renames: keep the new path.
    const p = m[3]!
      .replace(/\{[^}]* => ([^}]*)\}/, '$1')
      .replace(/^.* => /, '')
      .replace('//', '/');
    out.set(p, `${m[1] === '-' ? 0 : m[1]} ${m[2] === '-' ? 0 : m[2]}`);
  }
  return out;
}

describe('a repository in a workspace: seed, capture each turn, apply, check out, push', () => {
  let tmp: string;
  let server: GitServer;
  let git: TestGit;
  let repo: FixtureRepo;
  let host: GitHost;
  let base: BaseBundle;
  let baseCommit: string;
  let layout: WorkspaceLayout;
  let home: string;
  let turn1: CapturedChange;
  let turn2: CapturedChange;
  const runner = hostRunner();
  const ws = (...p: string[]) => path.join(layout.workspace, ...p);

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-git-ws-'));
    git = await testGit();
    server = await startGitServer({ root: path.join(tmp, 'srv') });
    repo = await makeRepo(git, server.root, 'repo.git', {
      files: {
        'README.md': '# demo\n\nline one\nline two\n',
        'src/app.js': 'console.log(1)\n',
        'moved.txt': Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join(''),
        'gone.txt': 'bye\n',
        'img.bin': bytes(3000, 1),
        'run.sh': '#!/bin/sh\necho hi\n',
        'mode.txt': 'mode\n',
        '.gitignore': 'node_modules/\n*.log\n',
      },
      history: 3,
    });
    host = createGitHost({
      env: git.env,
      credentials: [{ url: server.httpUrl('').replace(/\/$/, ''), username: server.username, password: server.password }],
    });
    const fetched = await fetchRepo(host, { url: server.daemonUrl('repo.git'), dir: path.join(tmp, 'fetched') });
    baseCommit = fetched.baseCommit;
    await createSeedBundle(host, fetched.dir, path.join(tmp, 'seed.bundle'));
    base = { bundle: await readFile(path.join(tmp, 'seed.bundle')), shallow: fetched.shallow };
    home = path.join(tmp, 'sbx', 'home');
    layout = { workspace: path.join(home, 'workspace'), stateDir: path.join(home, '.ccflow') };
    await mkdir(layout.workspace, { recursive: true });
  });
  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
    await rm(git.home, { recursive: true, force: true });
  });

  test('seeding checks out the base on the task branch, from a shallow bundle', async () => {
    await seedWorkspace(runner, { layout, home, bundle: base.bundle, shallow: base.shallow, baseCommit, branch: BRANCH, identity });
    assert.equal((await git(['-C', layout.workspace, 'rev-parse', 'HEAD'])).trim(), repo.head);
    assert.equal((await git(['-C', layout.workspace, 'symbolic-ref', 'HEAD'])).trim(), `refs/heads/${BRANCH}`);
    assert.equal(await git(['-C', layout.workspace, 'status', '--porcelain']), '');
    assert.equal((await git(['-C', layout.workspace, 'rev-list', '--count', 'HEAD'])).trim(), '1', 'shallow: the base commit only');
    assert.equal((await readFile(ws('README.md'), 'utf8')).split('\n')[0], '# demo');
    assert.ok(((await stat(ws('run.sh'))).mode & 0o100) !== 0, 'modes survive');
    assert.equal(await git(['-C', layout.workspace, 'remote']), '', 'the workspace has no remote to reach');
    assert.deepEqual(await readdir(path.join(layout.stateDir, 'git')).then((n) => n.includes('seed.bundle')), false);
  });

  test('a turn edits, creates, deletes, renames and touches binaries: one commit, summary matches git', async () => {
    await writeFile(ws('README.md'), '# demo\n\nline one\nline 2 changed\nline three\n');
    await writeFile(ws('new.txt'), 'new file\nsecond line\n');
    await mkdir(ws('docs', 'deep'), { recursive: true });
    await writeFile(ws('docs', 'deep', 'notes.md'), 'notes\n');
    await rm(ws('gone.txt'));
    await rename(ws('moved.txt'), ws('renamed.txt'));
    await writeFile(ws('renamed.txt'), `${await readFile(ws('renamed.txt'), 'utf8')}one more\n`);
    await writeFile(ws('img.bin'), bytes(3000, 2));
    await writeFile(ws('new.bin'), Buffer.from([0, 1, 2, 0, 255]));
    await chmod(ws('mode.txt'), 0o755);
    // Ignored: never captured.
    await writeFile(ws('debug.log'), 'noise\n');
    await mkdir(ws('node_modules', 'x'), { recursive: true });
    await writeFile(ws('node_modules', 'x', 'index.js'), 'module.exports = 1\n');
    // The agent commits part of its work itself and leaves junk staged: the turn's commit is
    // still "the workspace now" on top of the base.
    await git(['-C', layout.workspace, 'add', 'new.txt']);
    await git(['-C', layout.workspace, 'commit', '-q', '-m', 'agent commit']);
    await git(['-C', layout.workspace, 'add', '-f', 'debug.log']);
    await git(['-C', layout.workspace, 'rm', '-q', '--cached', 'debug.log']);

    turn1 = await captureChange(runner, {
      layout,
      home,
      parentCommit: baseCommit,
      baseCommit,
      branch: BRANCH,
      identity,
      message: 'Add a --verbose flag\n\nccflow task task-1, turn 1',
    });
    assert.equal(turn1.committed, true);
    const parents = (await git(['-C', layout.workspace, 'rev-list', '--parents', '-n', '1', turn1.headCommit])).trim().split(' ');
    assert.deepEqual(parents.slice(1), [baseCommit], 'one commit on top of the base, the agent commit folded in');
    assert.equal(
      (await git(['-C', layout.workspace, 'log', '-1', '--format=%an <%ae>%n%s', turn1.headCommit])).trim(),
      'ccflow agent <agent@ccflow.invalid>\nAdd a --verbose flag',
    );
    assert.equal((await git(['-C', layout.workspace, 'rev-parse', 'HEAD'])).trim(), turn1.headCommit);
    assert.equal(await git(['-C', layout.workspace, 'status', '--porcelain']), '', 'the agent sees a clean tree after the capture');
    const committed = (await git(['-C', layout.workspace, 'ls-tree', '-r', '--name-only', turn1.headCommit])).split('\n');
    assert.ok(!committed.includes('debug.log') && !committed.some((p) => p.startsWith('node_modules/')), '.gitignore respected');
    assert.ok(committed.includes('new.bin') && committed.includes('docs/deep/notes.md'), 'untracked files included');

    const s = turn1.total;
    assert.deepEqual(turn1.turn, s, 'the first turn is the whole change');
    const byPath = new Map(s.files.map((f) => [f.path, f]));
    assert.equal(byPath.get('renamed.txt')?.status, 'renamed');
    assert.equal(byPath.get('renamed.txt')?.oldPath, 'moved.txt');
    assert.equal(byPath.get('gone.txt')?.status, 'deleted');
    assert.equal(byPath.get('new.bin')?.status, 'added');
    assert.equal(byPath.get('new.bin')?.binary, true);
    assert.equal(byPath.get('img.bin')?.binary, true);
    assert.equal(byPath.get('mode.txt')?.status, 'modified');
    // Against `git diff --numstat` run independently on the same two commits.
    const expected = await numstat(git, layout.workspace, baseCommit, turn1.headCommit);
    assert.equal(expected.size, 8);
    assert.deepEqual(new Map(s.files.map((f) => [f.path, `${f.insertions} ${f.deletions}`])), expected);
    const shortstat = (await git(['-C', layout.workspace, 'diff', '--shortstat', '-M', baseCommit, turn1.headCommit])).trim();
    assert.equal(shortstat, `${s.filesChanged} files changed, ${s.insertions} insertions(+), ${s.deletions} deletions(-)`);
  });

  test('a follow-up turn makes a second commit on the first; an idle turn makes none', async () => {
    await writeFile(ws('new.txt'), 'new file\nsecond line\nthird line\n');
    turn2 = await captureChange(runner, {
      layout,
      home,
      parentCommit: turn1.headCommit,
      baseCommit,
      branch: BRANCH,
      identity,
      message: 'Also a third line',
    });
    assert.equal(turn2.committed, true);
    assert.equal((await git(['-C', layout.workspace, 'rev-parse', `${turn2.headCommit}^`])).trim(), turn1.headCommit);
    assert.deepEqual(turn2.turn.files, [{ path: 'new.txt', status: 'modified', insertions: 1, deletions: 0 }]);
    assert.equal(turn2.turn.baseCommit, turn1.headCommit);
    assert.equal(turn2.total.baseCommit, baseCommit);
    assert.equal(turn2.total.filesChanged, turn1.total.filesChanged);
    const idle = await captureChange(runner, {
      layout,
      home,
      parentCommit: turn2.headCommit,
      baseCommit,
      branch: BRANCH,
      identity,
      message: 'nothing',
    });
    assert.equal(idle.committed, false);
    assert.equal(idle.headCommit, turn2.headCommit);
    assert.equal(idle.turn.filesChanged, 0);
    assert.equal((await readFile(idle.outputs.turnPatch)).length, 0);
  });

  test('without its private index (a restored workspace) the capture is the same', async () => {
    await rm(path.join(layout.stateDir, 'git', 'index'));
    const again = await captureChange(runner, {
      layout,
      home,
      parentCommit: turn2.headCommit,
      baseCommit,
      branch: BRANCH,
      identity,
      message: 'x',
    });
    assert.equal(again.committed, false);
    assert.equal(again.treeId, turn2.treeId);
  });

  test('apply onto a fresh clone reproduces the agent tree byte for byte', async () => {
    const clone = path.join(tmp, 'fresh');
    await git(['clone', '-q', server.daemonUrl('repo.git'), clone]);
    const patch = await readFile(turn2.outputs.totalPatch);
    const applied = await applyPatch(host, { dir: clone, patch });
    assert.ok(applied.files.includes('new.bin'));
    assert.equal((await git(['-C', clone, 'write-tree'])).trim(), turn2.treeId, 'same tree id: same bytes, modes and paths');
    assert.deepEqual(await trackedTree(git, clone), await trackedTree(git, layout.workspace));
  });

  test('apply says which files conflict, or that the checkout is dirty', async () => {
    const clone = path.join(tmp, 'conflicting');
    await git(['clone', '-q', server.daemonUrl('repo.git'), clone]);
    await writeFile(path.join(clone, 'README.md'), '# demo\n\nline one\nline two, mine\n');
    await git(['-C', clone, 'commit', '-q', '-am', 'mine']);
    const patch = await readFile(turn2.outputs.totalPatch);
    await assert.rejects(applyPatch(host, { dir: clone, patch }), (e: unknown) => {
      assert.ok(e instanceof GitError && e.code === 'conflict', String(e));
      assert.deepEqual(e.paths, ['README.md']);
      assert.match(e.message, /conflicts with .* in 1 file: README\.md\. The rest is applied and staged/);
      return true;
    });
    assert.match(await readFile(path.join(clone, 'README.md'), 'utf8'), /^<<<<<<< /m);

    const dirty = path.join(tmp, 'dirty');
    await git(['clone', '-q', server.daemonUrl('repo.git'), dirty]);
    await writeFile(path.join(dirty, 'new.txt'), 'in the way\n');
    await git(['-C', dirty, 'add', 'new.txt']);
    await writeFile(path.join(dirty, 'new.txt'), 'in the way, changed\n');
    await assert.rejects(applyPatch(host, { dir: dirty, patch }), (e: unknown) => e instanceof GitError && e.code === 'does-not-apply');
    await assert.rejects(applyPatch(host, { dir: tmp, patch }), /is not a git checkout/);
  });

  test('checkout materialises the final tree with the task history on its branch', async () => {
    const dir = path.join(tmp, 'checkout');
    const change = await readFile(turn2.outputs.bundle!);
    await materialize(host, { dir, base, change, headCommit: turn2.headCommit, branch: BRANCH, remoteUrl: server.httpUrl('repo.git') });
    assert.equal((await git(['-C', dir, 'rev-parse', 'HEAD'])).trim(), turn2.headCommit);
    assert.equal((await git(['-C', dir, 'symbolic-ref', '--short', 'HEAD'])).trim(), BRANCH);
    assert.equal((await git(['-C', dir, 'rev-parse', 'refs/ccflow/base'])).trim(), baseCommit);
    assert.equal((await git(['-C', dir, 'rev-list', '--count', 'refs/ccflow/base..HEAD'])).trim(), '2');
    assert.equal(await git(['-C', dir, 'status', '--porcelain']), '');
    assert.deepEqual(await trackedTree(git, dir), await trackedTree(git, layout.workspace));
    assert.equal((await git(['-C', dir, 'remote', 'get-url', 'origin'])).trim(), server.httpUrl('repo.git'));
    await assert.rejects(materialize(host, { dir, base, change, headCommit: turn2.headCommit, branch: BRANCH }), /is not empty/);
  });

  test('push with the worker credentials is guarded by a lease and never pushes twice', async () => {
    const gitDir = path.join(tmp, 'push.git');
    await loadBundles(host, { dir: gitDir, base, change: await readFile(turn1.outputs.bundle!), tmpDir: path.join(tmp, 'push-tmp') });
    const url = server.httpUrl('repo.git');
    const first = await pushCommit(host, { gitDir, remoteUrl: url, branch: BRANCH, commit: turn1.headCommit, lease: null });
    assert.deepEqual(first, { remoteUrl: url, ref: `refs/heads/${BRANCH}`, commit: turn1.headCommit, status: 'created' });
    assert.equal((await git(['-C', repo.bare, 'rev-parse', BRANCH])).trim(), turn1.headCommit);
    assert.equal(server.receivePackPosts(), 1);
    // A retried activity runs the same push again: nothing is sent, the result says so.
    const retry = await pushCommit(host, { gitDir, remoteUrl: url, branch: BRANCH, commit: turn1.headCommit, lease: null });
    assert.equal(retry.status, 'up-to-date');
    assert.equal(server.receivePackPosts(), 1, 'no second push reached the server');
    assert.equal((await git(['-C', repo.bare, 'reflog', 'show', '--format=%H', `refs/heads/${BRANCH}`])).trim().split('\n').length, 1);

    // The next turn moves the branch on, leased on what this task pushed before.
    const gitDir2 = path.join(tmp, 'push2.git');
    await loadBundles(host, { dir: gitDir2, base, change: await readFile(turn2.outputs.bundle!), tmpDir: path.join(tmp, 'push-tmp2') });
    const second = await pushCommit(host, {
      gitDir: gitDir2,
      remoteUrl: url,
      branch: BRANCH,
      commit: turn2.headCommit,
      lease: turn1.headCommit,
    });
    assert.equal(second.status, 'updated');
    assert.equal((await git(['-C', repo.bare, 'rev-parse', BRANCH])).trim(), turn2.headCommit);
    const again = await pushCommit(host, {
      gitDir: gitDir2,
      remoteUrl: url,
      branch: BRANCH,
      commit: turn2.headCommit,
      lease: turn1.headCommit,
    });
    assert.equal(again.status, 'up-to-date', 'a retry with the old lease is still harmless');

    // Someone else pushes to the branch: ours is refused, theirs stays.
    await git(['-C', repo.bare, 'update-ref', `refs/heads/${BRANCH}`, repo.commits[0]!]);
    await assert.rejects(
      pushCommit(host, { gitDir: gitDir2, remoteUrl: url, branch: BRANCH, commit: turn2.headCommit, lease: turn1.headCommit }),
      (e: unknown) => {
        assert.ok(e instanceof GitError && e.code === 'rejected', String(e));
        assert.match(e.message, /no longer at .*someone else pushed to it\. Nothing was overwritten/);
        return true;
      },
    );
    assert.equal((await git(['-C', repo.bare, 'rev-parse', BRANCH])).trim(), repo.commits[0]);

    const wrong = createGitHost({
      env: git.env,
      credentials: [{ url: server.httpUrl('').replace(/\/$/, ''), username: server.username, password: 'nope' }],
    });
    await assert.rejects(
      pushCommit(wrong, { gitDir: gitDir2, remoteUrl: url, branch: 'other', commit: turn2.headCommit, lease: null }),
      (e: unknown) => e instanceof GitError && e.code === 'auth',
    );
  });

  test('a retried capture (same parent, tree and date) makes the very same commit', async () => {
    await writeFile(ws('retry.txt'), 'once\n');
    const o = { layout, home, parentCommit: turn2.headCommit, baseCommit, branch: BRANCH, identity, message: 'retry', date: 1_700_000_000 };
    const a = await captureChange(runner, o);
    const b = await captureChange(runner, o);
    assert.equal(a.committed, true);
    assert.equal(b.headCommit, a.headCommit);
    // Back to turn 2 for the tests that follow.
    await rm(ws('retry.txt'));
    await captureChange(runner, { ...o, parentCommit: a.headCommit });
    await git(['-C', layout.workspace, 'update-ref', `refs/heads/${BRANCH}`, turn2.headCommit]);
    await git(['-C', layout.workspace, 'reset', '-q', '--hard', turn2.headCommit]);
  });

  test("a task's own files stay over the checkout and count as its change", async () => {
    const h2 = path.join(tmp, 'sbx2', 'home');
    const l2 = { workspace: path.join(h2, 'workspace'), stateDir: path.join(h2, '.ccflow') };
    await mkdir(l2.workspace, { recursive: true });
    await writeFile(path.join(l2.workspace, 'README.md'), '# mine\n');
    await writeFile(path.join(l2.workspace, 'extra.txt'), 'extra\n');
    await seedWorkspace(runner, { layout: l2, home: h2, bundle: base.bundle, shallow: base.shallow, baseCommit, branch: BRANCH, identity });
    assert.equal(await readFile(path.join(l2.workspace, 'README.md'), 'utf8'), '# mine\n');
    assert.ok((await stat(path.join(l2.workspace, 'src', 'app.js'))).isFile(), 'the rest is checked out');
    const c = await captureChange(runner, {
      layout: l2,
      home: h2,
      parentCommit: baseCommit,
      baseCommit,
      branch: BRANCH,
      identity,
      message: 'x',
    });
    assert.deepEqual(c.total.files.map((f) => [f.path, f.status]).sort(), [
      ['README.md', 'modified'],
      ['extra.txt', 'added'],
    ]);

    // Taking over a restored workspace: the new task's branch starts at the old head.
    await adoptWorkspace(runner, { layout: l2, home: h2, headCommit: c.headCommit, branch: 'ccflow/next', identity });
    assert.equal((await git(['-C', l2.workspace, 'symbolic-ref', 'HEAD'])).trim(), 'refs/heads/ccflow/next');
    assert.equal((await git(['-C', l2.workspace, 'rev-parse', 'HEAD'])).trim(), c.headCommit);
    await assert.rejects(
      adoptWorkspace(runner, { layout: l2, home: h2, headCommit: '1'.repeat(40), branch: 'ccflow/x', identity }),
      /is not in the restored workspace/,
    );
  });

  test('a workspace whose .git is gone fails as broken', async () => {
    await rm(ws('.git'), { recursive: true, force: true });
    await assert.rejects(
      captureChange(runner, { layout, home, parentCommit: turn2.headCommit, baseCommit, branch: BRANCH, identity, message: 'x' }),
      (e: unknown) => e instanceof GitError && e.code === 'broken' && /no longer a git repository/.test(e.message),
    );
  });
});
