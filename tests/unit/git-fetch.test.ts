import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GitError, createGitHost, createSeedBundle, fetchRepo, type GitHost } from '../../src/git/index.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { bytes, makeRepo, testGit, type FixtureRepo, type TestGit } from '../helpers/git-fixtures.js';

/** Every file under dir, recursively, with its content. */
async function allFiles(dir: string): Promise<Array<{ file: string; content: Buffer }>> {
  const names = await readdir(dir, { recursive: true, withFileTypes: true });
  const out = [];
  for (const e of names) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    out.push({ file, content: await readFile(file) });
  }
  return out;
}

describe('fetching a repository on the worker host', () => {
  let tmp: string;
  let server: GitServer;
  let git: TestGit;
  let repo: FixtureRepo;
  let host: GitHost;
  let n = 0;
  const dir = () => path.join(tmp, `fetch-${(n += 1)}`);

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-git-fetch-'));
    git = await testGit();
    const root = path.join(tmp, 'srv');
    server = await startGitServer({ root });
    repo = await makeRepo(git, root, 'repo.git', {
      files: { 'README.md': '# demo\n', 'src/app.js': 'console.log(1)\n', 'img.bin': bytes(3000, 7) },
      history: 5,
      branches: { feature: { 'feature.txt': 'on a branch\n' } },
    });
    await git(['-C', repo.bare, 'tag', '-a', 'v1', '-m', 'release 1', repo.commits[1]!]);
    await git(['-C', repo.bare, 'tag', 'light', repo.commits[2]!]);
    host = createGitHost({
      env: git.env,
      credentials: [{ url: `http://127.0.0.1:${new URL(server.httpUrl('x')).port}`, username: server.username, password: server.password }],
    });
  });
  after(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
    await rm(git.home, { recursive: true, force: true });
  });

  test('over smart HTTP with the worker credentials: the remote HEAD, shallow', async () => {
    const d = dir();
    const f = await fetchRepo(host, { url: server.httpUrl('repo.git'), dir: d });
    assert.equal(f.baseCommit, repo.head);
    assert.equal(f.ref, 'HEAD');
    assert.equal(f.refName, 'refs/heads/main');
    assert.deepEqual(f.shallow, [repo.head]);
    assert.ok(f.treeBytes >= 3000 && f.packBytes > 0);
    assert.equal((await git(['-C', d, 'rev-list', '--count', 'refs/heads/ccflow-base'])).trim(), '1');
    // The credential went in a request header, and nowhere into the repository.
    assert.ok(server.requests.some((r) => r.authorized));
    for (const { file, content } of await allFiles(d)) {
      assert.ok(!content.includes(server.password), `password in ${file}`);
      assert.ok(!content.includes(Buffer.from(`${server.username}:${server.password}`).toString('base64')), `credential in ${file}`);
    }
    const bundle = path.join(tmp, 'seed.bundle');
    await createSeedBundle(host, d, bundle);
    assert.ok(!(await readFile(bundle)).includes(server.password));
  });

  test('over git://, with a branch, an annotated tag, a lightweight tag, a commit id and the whole history', async () => {
    const url = server.daemonUrl('repo.git');
    const branch = await fetchRepo(host, { url, ref: 'feature', dir: dir() });
    assert.equal(branch.refName, 'refs/heads/feature');
    assert.equal(branch.baseCommit, (await git(['-C', repo.bare, 'rev-parse', 'feature'])).trim());
    const tag = await fetchRepo(host, { url, ref: 'v1', dir: dir() });
    assert.equal(tag.refName, 'refs/tags/v1');
    assert.equal(tag.baseCommit, repo.commits[1], 'an annotated tag resolves to its commit');
    const light = await fetchRepo(host, { url, ref: 'refs/tags/light', dir: dir() });
    assert.equal(light.baseCommit, repo.commits[2]);
    const bySha = await fetchRepo(host, { url, ref: repo.commits[3]!, dir: dir() });
    assert.equal(bySha.baseCommit, repo.commits[3]);
    assert.equal(bySha.refName, undefined);
    const full = await fetchRepo(host, { url, depth: 0, dir: dir() });
    assert.deepEqual(full.shallow, []);
    assert.equal((await git(['-C', full.dir, 'rev-list', '--count', 'refs/heads/ccflow-base'])).trim(), '5');
    const three = await fetchRepo(host, { url, depth: 3, dir: dir() });
    assert.equal((await git(['-C', three.dir, 'rev-list', '--count', 'refs/heads/ccflow-base'])).trim(), '3');
  });

  test('from a local path and a file:// URL', async () => {
    const byPath = await fetchRepo(host, { url: repo.bare, dir: dir() });
    assert.equal(byPath.baseCommit, repo.head);
    assert.deepEqual(byPath.shallow, [repo.head], 'depth applies to local repositories too');
    const byUrl = await fetchRepo(host, { url: `file://${repo.bare}`, ref: 'main', dir: dir() });
    assert.equal(byUrl.baseCommit, repo.head);
  });

  test('a wrong or missing credential fails as auth, without prompting', async () => {
    const wrong = createGitHost({
      env: git.env,
      credentials: [{ url: server.httpUrl(''), username: server.username, password: 'not-the-password' }],
    });
    await assert.rejects(fetchRepo(wrong, { url: server.httpUrl('repo.git'), dir: dir() }), (e: unknown) => {
      assert.ok(e instanceof GitError && e.code === 'auth', String(e));
      assert.match(e.message, /credentials were refused or are missing/);
      assert.ok(!e.message.includes('not-the-password'));
      return true;
    });
    const none = createGitHost({ env: git.env });
    await assert.rejects(
      fetchRepo(none, { url: server.httpUrl('repo.git'), dir: dir() }),
      (e: unknown) => e instanceof GitError && e.code === 'auth',
    );
    // A credential scoped to another host is never offered to this one.
    const elsewhere = createGitHost({
      env: git.env,
      credentials: [{ url: 'https://git.example.com', username: 'u', password: server.password }],
    });
    await assert.rejects(
      fetchRepo(elsewhere, { url: server.httpUrl('repo.git'), dir: dir() }),
      (e: unknown) => e instanceof GitError && e.code === 'auth',
    );
    assert.ok(
      !server.requests.some(
        (r) =>
          !r.authorized &&
          r.authorization !== undefined &&
          Buffer.from(r.authorization.split(' ')[1] ?? '', 'base64')
            .toString()
            .includes(server.password),
      ),
    );
  });

  test('a missing ref is named; a missing repository says so', async () => {
    for (const url of [server.httpUrl('repo.git'), server.daemonUrl('repo.git'), repo.bare]) {
      await assert.rejects(fetchRepo(host, { url, ref: 'no-such-branch', dir: dir() }), (e: unknown) => {
        assert.ok(e instanceof GitError && e.code === 'ref-not-found', `${url}: ${String(e)}`);
        assert.match(e.message, /ref "no-such-branch" was not found/);
        return true;
      });
    }
    await assert.rejects(fetchRepo(host, { url: repo.bare, ref: 'abc1234', dir: dir() }), /abbreviated commit id/);
    await assert.rejects(fetchRepo(host, { url: server.daemonUrl('repo.git'), ref: '0'.repeat(40), dir: dir() }), (e: unknown) => {
      assert.ok(e instanceof GitError && e.code === 'ref-not-found', String(e));
      assert.match(e.message, /ref "0{40}" was not found/);
      return true;
    });
    for (const url of [server.httpUrl('nope.git'), server.daemonUrl('nope.git'), path.join(tmp, 'nope.git')]) {
      await assert.rejects(fetchRepo(host, { url, dir: dir() }), (e: unknown) => e instanceof GitError && e.code === 'not-found', url);
    }
  });

  test('an oversize repository stops with a clear limit message', async () => {
    const big = await makeRepo(git, server.root, 'big.git', { files: { 'noise.bin': bytes(3 * 1024 * 1024, 3) } });
    const small = createGitHost({ env: git.env, maxBytes: 1024 * 1024 });
    await assert.rejects(fetchRepo(small, { url: server.daemonUrl('big.git'), dir: dir(), sizePollMs: 5 }), (e: unknown) => {
      assert.ok(e instanceof GitError && e.code === 'too-large', String(e));
      assert.match(e.message, /repository .*big\.git at HEAD is too large: .* over this worker's limit of 1\.0 MiB/);
      return true;
    });
    // A tiny pack that unpacks into a huge tree is refused too.
    await makeRepo(git, server.root, 'bomb.git', { files: { 'zeros.txt': Buffer.alloc(8 * 1024 * 1024) } });
    await assert.rejects(fetchRepo(small, { url: server.daemonUrl('bomb.git'), dir: dir() }), /its files add up to 8\.0 MiB/);
    assert.ok(big.head);
  });

  test('a worker that limits local roots refuses paths outside them', async () => {
    const limited = createGitHost({ env: git.env, localRoots: [path.join(tmp, 'elsewhere')] });
    await assert.rejects(
      fetchRepo(limited, { url: repo.bare, dir: dir() }),
      (e: unknown) => e instanceof GitError && e.code === 'forbidden',
    );
    const allowed = createGitHost({ env: git.env, localRoots: [server.root] });
    assert.equal((await fetchRepo(allowed, { url: `file://${repo.bare}`, dir: dir() })).baseCommit, repo.head);
  });
});
