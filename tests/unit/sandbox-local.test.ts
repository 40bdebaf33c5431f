import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { BubblewrapMissingError, SandboxInputError, SandboxNotFoundError } from '../../src/sandbox/errors.js';
import { bwrapAvailable, LocalSandboxProvider } from '../../src/sandbox/local/index.js';
import type { LocalIsolation, LocalSandbox, LocalSandboxProviderOpts } from '../../src/sandbox/local/index.js';
import { readProcStat } from '../../src/sandbox/local/procfs.js';
import type { ProcessState } from '../../src/sandbox/types.js';
import { claudeBinaryPath, localSandboxMounts } from '../../src/worker/index.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const localModule = pathToFileURL(path.join(projectRoot, 'src/sandbox/local/index.ts')).href;
// bubblewrap and the pinned claude binary are prerequisites: without them these tests fail
// (with the provider's install hint) rather than skip.
const realClaude = claudeBinaryPath();

const BASE_ENV = { HOME: '/home/user', PATH: '/usr/local/bin:/usr/bin:/bin' };

let tmp: string;
let providerOpts: (isolation: LocalIsolation) => LocalSandboxProviderOpts;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-sandbox-local-'));
  providerOpts = (isolation) => ({
    rootDir: path.join(tmp, `sandboxes-${isolation}`),
    isolation,
    mounts: { ...localSandboxMounts(), claudeBinary: realClaude },
  });
});

after(async () => {
  for (const isolation of ['bubblewrap', 'none'] as const) {
    const p = new LocalSandboxProvider(providerOpts(isolation));
    for (const s of await p.list()) await p.destroy(s.sandboxId);
  }
  await rm(tmp, { recursive: true, force: true });
});

/** Polls `fn` until it returns a value, failing after a generous deadline (never asserts time). */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let runSeq = 0;
function runPaths() {
  const dir = `/home/user/.ccflow/run-${++runSeq}`;
  return { stdoutPath: `${dir}/stdout`, stderrPath: `${dir}/stderr`, exitCodePath: `${dir}/exit` };
}

function waitExit(sb: LocalSandbox, pid: number, exitCodePath: string): Promise<ProcessState & { state: 'exited' }> {
  return until('process exit', async () => {
    const s = await sb.processState(pid, exitCodePath);
    return s.state === 'exited' ? s : undefined;
  });
}

async function run(
  sb: LocalSandbox,
  command: string[],
  opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const paths = runPaths();
  let stdinPath: string | undefined;
  if (opts.stdin !== undefined) {
    stdinPath = `${path.posix.dirname(paths.stdoutPath)}/stdin`;
    await sb.writeFile(stdinPath, opts.stdin);
  }
  const { pid } = await sb.execDetached(command, {
    ...paths,
    env: opts.env ?? BASE_ENV,
    ...(stdinPath !== undefined ? { stdinPath } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  const { exitCode } = await waitExit(sb, pid, paths.exitCodePath);
  const stdout = (await sb.readFile(paths.stdoutPath))?.toString() ?? '';
  const stderr = (await sb.readFile(paths.stderrPath))?.toString() ?? '';
  return { code: exitCode, stdout, stderr };
}

/** Host pids of `pid` and all its descendants (found through /proc ppid links). */
async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = await readProcStat(Number(name));
    if (st !== undefined && st.state !== 'Z') parents.set(Number(name), st.ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, ppid] of parents) if (ppid === tree[i]) tree.push(child);
  }
  return tree.filter((p) => parents.has(p));
}

async function alive(pid: number): Promise<boolean> {
  const st = await readProcStat(pid);
  return st !== undefined && st.state !== 'Z';
}

for (const isolation of ['bubblewrap', 'none'] as const) {
  describe(`local sandbox (isolation: ${isolation})`, () => {
    let provider: LocalSandboxProvider;
    before(() => {
      provider = new LocalSandboxProvider(providerOpts(isolation));
    });

    test('create, list, connect and destroy', async () => {
      const a = await provider.create({ metadata: { owner: 'a', taskId: 't1' } });
      const b = await provider.create({ metadata: { owner: 'b' }, timeoutSeconds: 60 });
      assert.match(a.sandboxId, /^sbx-[0-9a-f]+$/);
      assert.equal(a.provider, 'local');

      const ids = (await provider.list()).map((s) => s.sandboxId);
      assert.ok(ids.includes(a.sandboxId) && ids.includes(b.sandboxId));
      const mine = await provider.list({ metadata: { owner: 'a' } });
      assert.deepEqual(
        mine.map((s) => [s.sandboxId, s.provider, s.metadata]),
        [[a.sandboxId, 'local', { owner: 'a', taskId: 't1' }]],
      );

      const again = await provider.connect(a.sandboxId);
      assert.equal(again.sandboxId, a.sandboxId);
      await again.renew(120);
      const rec = JSON.parse(await readFile(path.join(a.dir, 'sandbox.json'), 'utf8')) as { timeoutSeconds: number };
      assert.equal(rec.timeoutSeconds, 120);

      await provider.destroy(a.sandboxId);
      await provider.destroy(b.sandboxId);
      assert.equal(existsSync(a.dir), false);
      await assert.rejects(provider.connect(a.sandboxId), SandboxNotFoundError);
      await assert.rejects(a.readFile('/home/user/workspace/x'), SandboxNotFoundError);
      await provider.destroy(a.sandboxId); // quiet when already gone
      await provider.destroy('../../etc'); // never touches anything outside rootDir
      await assert.rejects(provider.connect('sbx-0000000000000000'), SandboxNotFoundError);
    });

    test('seeds files into the workspace and rejects escaping seed paths', async () => {
      const sb = await provider.create({
        metadata: {},
        files: { 'notes.md': '# hi\n', 'src/deep/a.txt': 'A' },
      });
      assert.equal(await readFile(path.join(sb.dir, 'fs/home/workspace/src/deep/a.txt'), 'utf8'), 'A');
      const r = await run(sb, ['cat', 'notes.md', 'src/deep/a.txt']);
      assert.deepEqual(r, { code: 0, stdout: '# hi\nA', stderr: '' });

      const before = (await provider.list()).length;
      for (const bad of ['/etc/passwd', '../escape.txt', 'a/../../escape.txt', '']) {
        await assert.rejects(
          provider.create({ metadata: {}, files: { [bad]: 'x' } }),
          (err: unknown) => err instanceof SandboxInputError && err.message.includes(JSON.stringify(bad)),
        );
      }
      assert.equal((await provider.list()).length, before);
    });

    test('exec: exit code, stdout, stderr and stdin files', async () => {
      const sb = await provider.create({ metadata: {} });
      const r = await run(sb, ['sh', '-c', 'tr a-z A-Z; echo oops >&2; exit 3'], { stdin: 'hello\n' });
      assert.deepEqual(r, { code: 3, stdout: 'HELLO\n', stderr: 'oops\n' });
      // No stdin file: /dev/null.
      assert.deepEqual(await run(sb, ['cat']), { code: 0, stdout: '', stderr: '' });
      // A command that does not exist: 127 and the shell's message.
      const missing = await run(sb, ['/nonexistent-command']);
      assert.equal(missing.code, 127);
      assert.match(missing.stderr, /nonexistent-command/);

      const paths = runPaths();
      await sb.writeFile('/home/user/.ccflow/big', 'hello world');
      assert.equal((await sb.readFileFrom('/home/user/.ccflow/big', 6, 100)).toString(), 'world');
      assert.equal((await sb.readFileFrom('/home/user/.ccflow/big', 0, 5)).toString(), 'hello');
      assert.equal((await sb.readFileFrom('/home/user/.ccflow/big', 11, 10)).length, 0);
      assert.equal((await sb.readFileFrom(paths.stdoutPath, 0, 10)).length, 0);
      assert.equal(await sb.readFile(paths.stdoutPath), undefined);
    });

    test('a process this worker started signals its exit; one it did not start has no signal', async () => {
      const sb = await provider.create({ metadata: {} });
      const paths = runPaths();
      await sb.writeFile(`${path.posix.dirname(paths.stdoutPath)}/go`, '');
      const { pid } = await sb.execDetached(['sh', '-c', `while [ -e ${path.posix.dirname(paths.stdoutPath)}/go ]; do sleep 0.05; done`], {
        ...paths,
        env: BASE_ENV,
      });
      const exited = sb.exited(pid);
      assert.ok(exited, 'a started process has an exit signal');
      let done = false;
      void exited.then(() => (done = true));
      await sleep(200);
      assert.equal(done, false, 'no signal while it runs');
      assert.equal((await sb.processState(pid, paths.exitCodePath)).state, 'running');
      await rm(path.join(sb.dir, 'fs/home', path.posix.relative('/home/user', path.posix.dirname(paths.stdoutPath)), 'go'));
      // A timer keeps this test's event loop alive (the worker's always is: the child is unref'd).
      const timer = new AbortController();
      await Promise.race([
        exited,
        sleep(30_000, undefined, { signal: timer.signal }).then(
          () => assert.fail('no exit signal in 30 s'),
          () => undefined,
        ),
      ]);
      timer.abort();
      assert.equal((await sb.processState(pid, paths.exitCodePath)).state, 'exited', 'the signal comes once it has exited');
      assert.equal(sb.exited(pid), undefined, 'the entry goes with the process');
      assert.equal(sb.exited(1), undefined);
    });

    test('env is exactly what was given', async () => {
      process.env['CCFLOW_TEST_LEAK'] = 'leaked';
      try {
        const sb = await provider.create({ metadata: {} });
        const env = { ...BASE_ENV, FOO: 'bar baz', EMPTY: '' };
        const r = await run(sb, ['/usr/bin/env'], { env });
        assert.equal(r.code, 0);
        const got = Object.fromEntries(
          r.stdout
            .trim()
            .split('\n')
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        const expected = isolation === 'none' ? { ...env, HOME: sb.hostPath('/home/user') } : env;
        assert.deepEqual(got, expected);
      } finally {
        delete process.env['CCFLOW_TEST_LEAK'];
      }
    });

    test('provider-written files are writable by the agent and agent files are readable by the host', async () => {
      const sb = await provider.create({ metadata: {} });
      await sb.writeFile('/home/user/workspace/sub/a.txt', 'a');
      const r = await run(sb, [
        'sh',
        '-c',
        'echo b >> sub/a.txt && mkdir sub/d && echo c > sub/d/c.txt && echo t > /tmp/t.txt && ' +
          'echo abs > /home/user/workspace/abs.txt && pwd',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), isolation === 'none' ? sb.hostPath('/home/user/workspace') : '/home/user/workspace');
      assert.equal((await sb.readFile('/home/user/workspace/sub/a.txt'))?.toString(), 'ab\n');
      assert.equal(await readFile(path.join(sb.dir, 'fs/home/workspace/sub/d/c.txt'), 'utf8'), 'c\n');
      assert.equal((await sb.readFile('/tmp/t.txt'))?.toString(), 't\n');
      // With isolation `none`, inside paths in argv are rewritten to the sandbox's host paths.
      assert.equal((await sb.readFile('/home/user/workspace/abs.txt'))?.toString(), 'abs\n');
    });

    test('kill (SIGTERM) ends the whole group, and the exit code is still recorded', async () => {
      const sb = await provider.create({ metadata: {} });
      const paths = runPaths();
      const { pid } = await sb.execDetached(['sh', '-c', 'sleep 1000 & sleep 1000 & wait'], { ...paths, env: BASE_ENV });
      const tree = await until('both sleeps to start', async () => {
        const t = await processTree(pid);
        let sleeps = 0;
        for (const p of t) if ((await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim() === 'sleep') sleeps++;
        return sleeps === 2 ? t : undefined;
      });
      assert.deepEqual(await sb.processState(pid, paths.exitCodePath), { state: 'running' });
      await sb.kill(pid);
      assert.deepEqual(await waitExit(sb, pid, paths.exitCodePath), { state: 'exited', exitCode: 143 });
      await until('every process of the group to end', async () => {
        for (const p of tree) if (await alive(p)) return undefined;
        return true;
      });
      await sb.kill(pid); // quiet when already gone
    });

    test('kill (SIGKILL) ends a command that ignores SIGTERM; no exit code', async () => {
      const sb = await provider.create({ metadata: {} });
      const paths = runPaths();
      const { pid } = await sb.execDetached(['sh', '-c', 'trap "" TERM; sleep 1000'], { ...paths, env: BASE_ENV });
      const tree = await until('sleep to start', async () => {
        const t = await processTree(pid);
        for (const p of t) if ((await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim() === 'sleep') return t;
        return undefined;
      });
      await sb.kill(pid, 'SIGKILL');
      assert.deepEqual(await waitExit(sb, pid, paths.exitCodePath), { state: 'exited', exitCode: null });
      await until('every process to end', async () => {
        for (const p of tree) if (await alive(p)) return undefined;
        return true;
      });
    });

    test('a forged exit-code file does not end a running process', async (t) => {
      if (isolation !== 'bubblewrap') {
        t.skip('only a jail has a status the agent cannot write');
        return;
      }
      const sb = await provider.create({ metadata: {} });
      try {
        const paths = runPaths();
        const { pid } = await sb.execDetached(['/bin/sh', '-c', `echo 0 > ${paths.exitCodePath}; echo forged; sleep 60`], paths);
        await until('the forgery to be written', async () =>
          (await sb.readFile(paths.exitCodePath))?.toString().trim() === '0' ? true : undefined,
        );
        assert.deepEqual(await sb.processState(pid, paths.exitCodePath), { state: 'running' });
        await sb.kill(pid, 'SIGKILL');
        const state = await until('the kill', async () => {
          const s = await sb.processState(pid, paths.exitCodePath);
          return s.state === 'exited' ? s : undefined;
        });
        assert.deepEqual(state, { state: 'exited', exitCode: null }, 'killed: no exit code, whatever the file says');
      } finally {
        await provider.destroy(sb.sandboxId);
      }
    });

    test('never signals or reports a pid it did not start', async () => {
      const sb = await provider.create({ metadata: {} });
      await sb.kill(process.pid, 'SIGKILL'); // would kill this test if it were signalled
      assert.deepEqual(await sb.processState(process.pid, '/home/user/none'), { state: 'exited', exitCode: null });
    });

    test('a detached process outlives the worker that started it, and can be reattached', async () => {
      const sb = await provider.create({ metadata: {} });
      const paths = runPaths();
      const script = `
        const { LocalSandboxProvider } = await import(${JSON.stringify(localModule)});
        const [opts, id, paths] = process.argv.slice(1).map((a) => JSON.parse(a));
        const sb = await new LocalSandboxProvider(opts).connect(id);
        const h = await sb.execDetached(
          ['sh', '-c', 'while [ ! -e /home/user/workspace/go ]; do sleep 0.05; done; echo done; exit 7'],
          { ...paths, env: { PATH: '/usr/bin:/bin' } },
        );
        console.log(JSON.stringify(h));
        setInterval(() => {}, 1000); // a worker stays up until it is killed
      `;
      const worker = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          script,
          JSON.stringify(providerOpts(isolation)),
          JSON.stringify(sb.sandboxId),
          JSON.stringify(paths),
        ],
        { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      worker.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const { pid } = await until('the worker to start the process', async () =>
        out.includes('\n') ? (JSON.parse(out) as { pid: number }) : undefined,
      );
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;

      // A new "worker" (this test) reattaches by pid.
      const again = await provider.connect(sb.sandboxId);
      assert.deepEqual(await again.processState(pid, paths.exitCodePath), { state: 'running' });
      await again.writeFile('/home/user/workspace/go', '');
      assert.deepEqual(await waitExit(again, pid, paths.exitCodePath), { state: 'exited', exitCode: 7 });
      assert.equal((await again.readFile(paths.stdoutPath))?.toString(), 'done\n');
    });

    test('destroy kills running processes and removes the directory', async () => {
      const sb = await provider.create({ metadata: {} });
      const paths = runPaths();
      const { pid } = await sb.execDetached(['sleep', '1000'], { ...paths, env: BASE_ENV });
      const tree = await until('sleep to start', async () => {
        const t = await processTree(pid);
        for (const p of t) if ((await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim() === 'sleep') return t;
        return undefined;
      });
      await provider.destroy(sb.sandboxId);
      assert.equal(existsSync(sb.dir), false);
      for (const p of tree) assert.equal(await alive(p), false, `pid ${p} still alive`);
    });

    test('rejects paths outside HOME and /tmp, and symlinks planted to escape', async () => {
      const sb = await provider.create({ metadata: {} });
      const outside = await realpath(tmp);
      for (const bad of ['/etc/passwd', '/home/user/../../etc/passwd', 'relative.txt', '/home/username/x', '/opt/ccflow/bin/claude']) {
        await assert.rejects(sb.readFile(bad), SandboxInputError, bad);
        await assert.rejects(sb.writeFile(bad, 'x'), SandboxInputError, bad);
      }
      await assert.rejects(sb.execDetached(['true'], { ...runPaths(), stdoutPath: '/etc/x', env: BASE_ENV }), SandboxInputError);
      await assert.rejects(sb.execDetached(['true'], { ...runPaths(), cwd: '/usr', env: BASE_ENV }), SandboxInputError);
      // What an agent could plant: a file symlink and a dir symlink pointing at the host.
      await writeFile(path.join(tmp, 'secret'), 'host secret');
      await symlink(path.join(outside, 'secret'), path.join(sb.dir, 'fs/home/workspace/link'));
      await symlink(outside, path.join(sb.dir, 'fs/home/workspace/dirlink'));
      await assert.rejects(sb.readFile('/home/user/workspace/link'), SandboxInputError);
      await assert.rejects(sb.readFile('/home/user/workspace/dirlink/secret'), SandboxInputError);
      await assert.rejects(sb.readFileFrom('/home/user/workspace/dirlink/secret', 0, 10), SandboxInputError);
      await assert.rejects(sb.writeFile('/home/user/workspace/link', 'x'), SandboxInputError);
      await assert.rejects(sb.writeFile('/home/user/workspace/dirlink/new', 'x'), SandboxInputError);
      await assert.rejects(
        sb.execDetached(['true'], { ...runPaths(), stdoutPath: '/home/user/workspace/link', env: BASE_ENV }),
        SandboxInputError,
      );
      assert.equal(await readFile(path.join(tmp, 'secret'), 'utf8'), 'host secret');
      assert.equal(existsSync(path.join(tmp, 'new')), false);
    });
  });
}

describe('bubblewrap isolation', () => {
  let provider: LocalSandboxProvider;
  let sb: LocalSandbox;
  before(async () => {
    provider = new LocalSandboxProvider(providerOpts('bubblewrap'));
    sb = await provider.create({ metadata: {} });
  });

  /** Whether a path exists inside the sandbox. */
  async function exists(p: string): Promise<boolean> {
    const { code } = await run(sb, ['test', '-e', p]);
    assert.ok(code === 0 || code === 1, `test -e exited ${code}`);
    return code === 0;
  }

  /** Runs a shell snippet inside and returns its exit code. */
  async function sh(script: string): Promise<number | null> {
    return (await run(sb, ['sh', '-c', script])).code;
  }

  test('runs as uid/gid 1000', async () => {
    assert.equal((await run(sb, ['id', '-u'])).stdout.trim(), '1000');
    assert.equal((await run(sb, ['id', '-g'])).stdout.trim(), '1000');
  });

  test('the system is read-only; only HOME and /tmp are writable', async () => {
    assert.notEqual(await sh('touch /usr/ccflow-test'), 0);
    assert.notEqual(await sh('touch /etc/ccflow-test'), 0);
    assert.notEqual(await sh('touch /ccflow-test'), 0);
    assert.notEqual(await sh('touch /opt/ccflow/bin/claude'), 0);
    assert.equal(await sh('touch /home/user/ok /tmp/ok'), 0);
    assert.equal(existsSync('/usr/ccflow-test') || existsSync('/etc/ccflow-test'), false);
  });

  test('/tmp is private and host directories are invisible', async () => {
    const hostTmpFile = path.join(os.tmpdir(), `ccflow-visible-${process.pid}`);
    await writeFile(hostTmpFile, 'x');
    try {
      assert.equal(await exists(hostTmpFile), false);
      // The test's own sandbox root lives in the host /tmp; neither is reachable.
      assert.equal(await exists(sb.dir), false);
    } finally {
      await rm(hostTmpFile, { force: true });
    }
    assert.equal(await exists(projectRoot), false);
    assert.equal(await exists('/root'), false);
    // Files the host hides from other users are masked (host root is the agent's uid inside).
    const shadow = await stat('/etc/shadow').catch(() => undefined);
    if (shadow !== undefined && (shadow.mode & 0o004) === 0) {
      assert.equal((await run(sb, ['cat', '/etc/shadow'])).stdout, '');
    }
  });

  test('the pid namespace ends with the command, including processes that left the group', async () => {
    const paths = runPaths();
    const { pid } = await sb.execDetached(['sh', '-c', 'setsid sleep 1000 & echo started; sleep 1000'], {
      ...paths,
      env: BASE_ENV,
    });
    const tree = await until('both sleeps to start', async () => {
      const t = await processTree(pid);
      let sleeps = 0;
      for (const p of t) if ((await readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')).trim() === 'sleep') sleeps++;
      return sleeps === 2 ? t : undefined;
    });
    await sb.kill(pid);
    await waitExit(sb, pid, paths.exitCodePath);
    await until('every process in the jail to end', async () => {
      for (const p of tree) if (await alive(p)) return undefined;
      return true;
    });
  });

  test('/opt/ccflow holds claude, node, the bundled result server, the approval hook and the relay, and nothing else', async () => {
    const r = await run(sb, ['/bin/sh', '-c', 'find /opt/ccflow -mindepth 1 | sort']);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '/opt/ccflow/bin',
      '/opt/ccflow/bin/claude',
      '/opt/ccflow/bin/node',
      '/opt/ccflow/relay',
      '/opt/ccflow/relay/relay.mjs',
      '/opt/ccflow/result-server',
      '/opt/ccflow/result-server/approval-hook.mjs',
      '/opt/ccflow/result-server/server.mjs',
    ]);
    // The bundle loads all it imports (fastmcp, zod) from itself, then asks for its settings.
    const started = await run(sb, ['/opt/ccflow/bin/node', '/opt/ccflow/result-server/server.mjs']);
    assert.equal(started.code, 2);
    assert.match(started.stderr, /CCFLOW_RESULT_SCHEMA_FILE is not set/);
  });

  test('the real claude binary runs inside', async () => {
    const r = await run(sb, ['/opt/ccflow/bin/claude', '--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
  });
});

describe('missing bubblewrap', () => {
  test('create() fails with BubblewrapMissingError that says how to install it', async () => {
    const provider = new LocalSandboxProvider({ ...providerOpts('bubblewrap'), bwrapPath: '/nonexistent/bwrap' });
    await assert.rejects(
      provider.create({ metadata: {} }),
      (err: unknown) =>
        err instanceof BubblewrapMissingError &&
        err.retryable === false &&
        err.message.includes('/nonexistent/bwrap') &&
        err.message.includes('apt-get install -y bubblewrap'),
    );
    await assert.rejects(LocalSandboxProvider.check('/nonexistent/bwrap'), BubblewrapMissingError);
    assert.equal(await bwrapAvailable('/nonexistent/bwrap'), false);
    await assert.rejects(LocalSandboxProvider.check('ccflow-no-such-bwrap'), /not found on PATH/);
  });
});
