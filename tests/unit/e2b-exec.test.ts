/**
 * The detached-process wrapper the E2B provider hands to envd, run here the way envd runs it
 * (`/bin/bash -l -c <cmd>` as a plain child, with envd's own variables plus the request envs).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { detachedCommand, killCommand, shellQuote } from '../../src/sandbox/e2b/exec.js';
import { SandboxInputError } from '../../src/sandbox/errors.js';
import { readProcStat } from '../../src/sandbox/local/procfs.js';
import type { ExecDetachedOpts } from '../../src/sandbox/types.js';

const execFileAsync = promisify(execFile);
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-e2b-exec-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ENVD_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: os.tmpdir(),
  USER: 'user',
  LOGNAME: 'user',
  E2B_SANDBOX: 'true',
};

/** Starts the wrapper like envd; resolves with its pid once started. */
function startLikeEnvd(argv: string[], opts: ExecDetachedOpts): { pid: number; exited: Promise<number | null> } {
  const { cmd, envs } = detachedCommand(argv, opts);
  const child = spawn('/bin/bash', ['-l', '-c', cmd], { env: { ...ENVD_ENV, ...envs }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { pid: child.pid!, exited };
}

function files(name: string, shared = false): ExecDetachedOpts {
  const base = path.join(dir, name);
  return { stdoutPath: `${base}/out`, stderrPath: shared ? `${base}/out` : `${base}/err`, exitCodePath: `${base}/exit-code`, cwd: dir };
}

test('shellQuote survives every character a shell cares about', async () => {
  for (const s of ['plain', '', "it's", 'a b', '$HOME', '`id`', '"q"', '\\', '*', 'new\nline', '--flag=x']) {
    const { stdout } = await execFileAsync('/bin/sh', ['-c', `printf '%s' ${shellQuote(s)}`]);
    assert.equal(stdout, s);
  }
});

test('the process gets exactly the requested environment, stdin from the prompt file, output in files', async () => {
  const f = files('env');
  await writeFile(path.join(dir, 'prompt.txt'), 'the prompt\n');
  const secret = `sk-"$(echo not-expanded)"'\`x\``;
  const p = startLikeEnvd(['/bin/sh', '-c', 'env | sort; cat; echo oops >&2; exit 7'], {
    ...f,
    env: { PATH: '/usr/bin:/bin', HOME: '/home/user', ANTHROPIC_API_KEY: secret },
    stdinPath: path.join(dir, 'prompt.txt'),
  });
  assert.equal(await p.exited, 7);
  const out = await readFile(f.stdoutPath, 'utf8');
  const vars = out
    .split('\n')
    .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
    .map((l) => l.slice(0, l.indexOf('=')));
  // `_` and PWD are set by the shells themselves; nothing of envd's own variables leaks in.
  assert.deepEqual(
    vars.filter((v) => v !== '_' && v !== 'PWD'),
    ['ANTHROPIC_API_KEY', 'HOME', 'PATH'],
  );
  assert.ok(out.includes(`ANTHROPIC_API_KEY=${secret}\n`), out);
  assert.ok(out.includes('PATH=/usr/bin:/bin\n'));
  assert.ok(out.endsWith('the prompt\n'));
  assert.equal(await readFile(f.stderrPath, 'utf8'), 'oops\n');
  assert.equal(await readFile(f.exitCodePath, 'utf8'), '7\n');
  assert.equal(existsSync(`${f.exitCodePath}.tmp`), false);
});

test('stdout and stderr may share one file', async () => {
  const f = files('shared', true);
  const p = startLikeEnvd(['/bin/sh', '-c', 'echo one; echo two >&2; echo three'], f);
  assert.equal(await p.exited, 0);
  assert.equal(await readFile(f.stdoutPath, 'utf8'), 'one\ntwo\nthree\n');
});

test('a missing working directory is reported in stderr with exit code 127', async () => {
  const f = { ...files('nocwd'), cwd: path.join(dir, 'does-not-exist') };
  const p = startLikeEnvd(['/bin/true'], f);
  assert.equal(await p.exited, 127);
  assert.equal(await readFile(f.exitCodePath, 'utf8'), '127\n');
  assert.match(await readFile(f.stderrPath, 'utf8'), /does-not-exist/);
});

test('the wrapper leads its own process group, so one kill reaches everything it started', async () => {
  const f = files('group');
  const p = startLikeEnvd(['/bin/sh', '-c', 'sleep 30 & echo $! > child.pid; sleep 30'], f);
  const childPidFile = path.join(dir, 'child.pid');
  for (let i = 0; i < 50 && !existsSync(childPidFile); i++) await sleep(50);
  const { stdout } = await execFileAsync('ps', ['-o', 'pgid=,sid=', '-p', String(p.pid)]);
  assert.deepEqual(stdout.trim().split(/\s+/).map(Number), [p.pid, p.pid]);
  const bg = Number((await readFile(childPidFile, 'utf8')).trim());

  await execFileAsync('/bin/bash', ['-c', killCommand(p.pid, 'SIGTERM')]);
  // TERM reaches the whole group; the wrapper survives it long enough to record the code.
  assert.equal(await p.exited, 143);
  assert.equal(await readFile(f.exitCodePath, 'utf8'), '143\n');
  await sleep(100);
  const st = await readProcStat(bg);
  assert.ok(st === undefined || st.state === 'Z', `background child still running: ${JSON.stringify(st)}`);
  // Killing what is already gone is quiet.
  await execFileAsync('/bin/bash', ['-c', killCommand(p.pid, 'SIGKILL')]);
});

test('bad input is refused before anything runs', () => {
  assert.throws(() => detachedCommand([], files('x')), SandboxInputError);
  assert.throws(() => detachedCommand(['/bin/true'], { ...files('x'), env: { 'BAD-NAME': '1' } }), SandboxInputError);
  assert.throws(() => killCommand(1, 'SIGKILL'), SandboxInputError);
  assert.throws(() => killCommand(Number.NaN, 'SIGKILL'), SandboxInputError);
});
