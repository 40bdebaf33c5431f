/**
 * The E2B provider against the local E2B-compatible server: the Sandbox contract, and the
 * E2B pitfalls it has to survive (each shown to bite with the provider's unsafe variants).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sandbox as SdkSandbox } from 'e2b';

import { E2BAuthError, E2BTemplateError } from '../../src/sandbox/e2b/errors.js';
import { SandboxError, SandboxInputError, SandboxNotFoundError } from '../../src/sandbox/errors.js';
import type { ExecDetachedOpts, ProcessState, Sandbox } from '../../src/sandbox/types.js';
import { startDouble, type DoubleFixture } from '../e2b-server/fixtures.js';

let runs = 0;
function runFiles(): ExecDetachedOpts {
  const dir = `/home/user/.ccflow/runs/t${++runs}`;
  return { stdoutPath: `${dir}/stdout`, stderrPath: `${dir}/stderr`, exitCodePath: `${dir}/exit-code` };
}

/** Polls like the runner does (reading output keeps the sandbox in use) until the process ends. */
async function follow(
  sbx: Sandbox,
  pid: number,
  files: ExecDetachedOpts,
  limitMs = 20_000,
): Promise<{ state: ProcessState; output: string; tookMs: number }> {
  const started = Date.now();
  let output = Buffer.alloc(0);
  for (;;) {
    const chunk = await sbx.readFileFrom(files.stdoutPath, output.length, 1 << 20);
    output = Buffer.concat([output, chunk]);
    const state = await sbx.processState(pid, files.exitCodePath);
    if (state.state === 'exited') {
      output = Buffer.concat([output, await sbx.readFileFrom(files.stdoutPath, output.length, 1 << 20)]);
      return { state, output: output.toString('utf8'), tookMs: Date.now() - started };
    }
    if (Date.now() - started > limitMs) throw new Error(`process ${pid} still running after ${limitMs} ms`);
    await sleep(100);
  }
}

describe('E2BSandboxProvider', () => {
  let d: DoubleFixture;
  before(async () => {
    d = await startDouble({ commandDeadlineMs: 1_500 });
  });
  after(async () => {
    await d?.close();
  });

  test('creates a seeded sandbox, lists it by metadata, and destroys it quietly', async () => {
    const p = d.provider();
    const sbx = await p.create({
      metadata: { owner: 'ccflow', workflowId: 'wf-list' },
      files: { 'seed.txt': 'seeded', 'sub/dir/a.md': '# a' },
    });
    assert.equal(sbx.provider, 'e2b');
    assert.equal((await sbx.readFile('/home/user/workspace/seed.txt'))?.toString(), 'seeded');
    assert.equal((await sbx.readFile('/home/user/workspace/sub/dir/a.md'))?.toString(), '# a');
    const listed = await p.list({ metadata: { workflowId: 'wf-list' } });
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.sandboxId, sbx.sandboxId);
    assert.deepEqual(listed[0]?.metadata, { owner: 'ccflow', workflowId: 'wf-list' });
    await p.destroy(sbx.sandboxId);
    await p.destroy(sbx.sandboxId);
    assert.deepEqual(await p.list({ metadata: { workflowId: 'wf-list' } }), []);
    await assert.rejects(p.connect(sbx.sandboxId), SandboxNotFoundError);
    await assert.rejects(p.create({ metadata: {}, files: { '../escape': 'x' } }), SandboxInputError);
  });

  test('files: whole reads, ranged reads, writes that create directories', async () => {
    const p = d.provider();
    const sbx = await p.create({ metadata: {} });
    const bytes = Buffer.from([0, 1, 2, 0xe2, 0x82, 0xac, 255]);
    await sbx.writeFile('/home/user/.ccflow/deep/dir/bin', bytes);
    assert.deepEqual(await sbx.readFile('/home/user/.ccflow/deep/dir/bin'), bytes);
    assert.deepEqual(await sbx.readFileFrom('/home/user/.ccflow/deep/dir/bin', 3, 2), bytes.subarray(3, 5));
    assert.deepEqual(await sbx.readFileFrom('/home/user/.ccflow/deep/dir/bin', 5, 100), bytes.subarray(5));
    assert.equal((await sbx.readFileFrom('/home/user/.ccflow/deep/dir/bin', 7, 100)).length, 0);
    assert.equal((await sbx.readFileFrom('/home/user/missing', 0, 100)).length, 0);
    assert.equal(await sbx.readFile('/home/user/missing'), undefined);
    await sbx.writeFile('/tmp/empty', '');
    assert.equal((await sbx.readFileFrom('/tmp/empty', 0, 10)).length, 0);
    await assert.rejects(sbx.readFile('relative/path'), SandboxInputError);
    await p.destroy(sbx.sandboxId);
  });

  test('runs a detached process with its environment, stdin and exit code; a new worker reattaches by pid', async () => {
    const p = d.provider();
    const sbx = await p.create({ metadata: {} });
    const files = runFiles();
    await sbx.writeFile('/home/user/.ccflow/prompt.txt', 'from stdin\n');
    const { pid } = await sbx.execDetached(['/bin/sh', '-c', 'echo "$GREETING"; cat; pwd; sleep 1; echo bye >&2; exit 4'], {
      ...files,
      env: { GREETING: 'hello $world', PATH: '/usr/bin:/bin' },
      stdinPath: '/home/user/.ccflow/prompt.txt',
    });
    assert.deepEqual(await sbx.processState(pid, files.exitCodePath), { state: 'running' });
    // Another worker (a new provider) finds the same process.
    const again = await d.provider().connect(sbx.sandboxId);
    const { state, output } = await follow(again, pid, files);
    assert.deepEqual(state, { state: 'exited', exitCode: 4 });
    assert.equal(output, 'hello $world\nfrom stdin\n/home/user/workspace\n');
    assert.equal((await again.readFile(files.stderrPath))?.toString(), 'bye\n');
    await p.destroy(sbx.sandboxId);
  });

  test('kill signals the whole process group, quietly when it is gone', async () => {
    const p = d.provider();
    const sbx = await p.create({ metadata: {} });
    const files = runFiles();
    const { pid } = await sbx.execDetached(['/bin/sh', '-c', 'sleep 30 & sleep 30'], files);
    // The wrapper records the exit code of a signalled run from its trap on; a TERM that lands
    // before bash has read that line kills it outright. Its stdout file exists once it has.
    for (let i = 0; i < 100 && (await sbx.readFile(files.stdoutPath)) === undefined; i++) await sleep(50);
    await sbx.kill(pid, 'SIGTERM');
    const { state } = await follow(sbx, pid, files, 5_000);
    assert.deepEqual(state, { state: 'exited', exitCode: 143 });
    const ps = await sbx.execDetached(['/bin/sh', '-c', 'ps -eo args= | grep -c "^sleep 30" || true'], runFiles());
    await sleep(300);
    assert.equal((await sbx.readFile(`/home/user/.ccflow/runs/t${runs}/stdout`))?.toString().trim(), '0');
    await sbx.kill(pid, 'SIGKILL');
    await sbx.kill(ps.pid, 'SIGKILL');
    await p.destroy(sbx.sandboxId);
  });

  test('output produced while no client is subscribed is lost to the stream but kept in the file', async () => {
    const p = d.provider();
    const sbx = await p.create({ metadata: {} });
    const script = 'echo one; sleep 0.5; echo two; sleep 0.5; echo three';
    // What a naive client sees: it disconnects (worker restart, dropped stream) and reconnects.
    const sdk = await SdkSandbox.connect(sbx.sandboxId, {
      apiKey: d.server.apiKey,
      apiUrl: d.server.apiUrl,
      sandboxUrl: d.server.sandboxUrl,
    });
    const streamed: string[] = [];
    const naive = await sdk.commands.run(script, { background: true, timeoutMs: 0, onStdout: (s) => void streamed.push(s) });
    await sleep(200);
    await naive.disconnect();
    await sleep(1_200);
    await sdk.commands.connect(naive.pid, { onStdout: (s) => void streamed.push(s) }).then((h) => h.wait());
    assert.equal(streamed.join(''), 'one\n');
    // The provider's process writes to a file: everything is there, whoever was listening.
    const files = runFiles();
    const { pid } = await sbx.execDetached(['/bin/sh', '-c', script], files);
    await sleep(600);
    assert.ok(d.server.dropStreams() >= 0);
    const { output } = await follow(sbx, pid, files);
    assert.equal(output, 'one\ntwo\nthree\n');
    await p.destroy(sbx.sandboxId);
  });

  describe('a process longer than the command deadline (1.5 s) and the sandbox lifetime (2 s)', () => {
    const longRun = ['/bin/sh', '-c', 'for i in 1 2 3 4; do echo tick $i; sleep 1; done; echo done'];

    test('completes: timeoutMs: 0 and lifetime renewals', async () => {
      const before = d.server.stats();
      const p = d.provider();
      const sbx = await p.create({ metadata: {}, timeoutSeconds: 2 });
      const files = runFiles();
      const { pid } = await sbx.execDetached(longRun, files);
      const { state, output, tookMs } = await follow(sbx, pid, files);
      assert.deepEqual(state, { state: 'exited', exitCode: 0 });
      assert.equal(output, 'tick 1\ntick 2\ntick 3\ntick 4\ndone\n');
      assert.ok(tookMs > 3_500, `took ${tookMs} ms`);
      const after = d.server.stats();
      assert.ok(after.timeoutUpdates > before.timeoutUpdates, 'the lifetime was renewed');
      assert.equal(after.deadlineKills, before.deadlineKills);
      await p.destroy(sbx.sandboxId);
    });

    test('is killed at the deadline when the provider leaves timeoutMs at the SDK default', async () => {
      const p = d.provider({ unsafeTesting: { omitZeroCommandTimeout: true } });
      const sbx = await p.create({ metadata: {}, timeoutSeconds: 2 });
      const files = runFiles();
      const { pid } = await sbx.execDetached(longRun, files);
      const { state, output, tookMs } = await follow(sbx, pid, files);
      // envd killed the process: no exit code was ever recorded, and the work is unfinished.
      assert.deepEqual(state, { state: 'exited', exitCode: null });
      assert.ok(tookMs < 3_000, `took ${tookMs} ms`);
      assert.doesNotMatch(output, /done/);
      await p.destroy(sbx.sandboxId);
    });

    test('loses its sandbox when the provider does not renew the lifetime', async () => {
      const p = d.provider({ unsafeTesting: { disableRenewal: true } });
      const sbx = await p.create({ metadata: {}, timeoutSeconds: 2 });
      const files = runFiles();
      const { pid } = await sbx.execDetached(longRun, files);
      // Reattaching does not stretch it to the API's 300 s connect default either.
      const reattached = await p.connect(sbx.sandboxId);
      const err = await follow(reattached, pid, files).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof SandboxNotFoundError, String(err));
      assert.equal(err.retryable, true);
    });
  });

  test('a wrong API key or an unknown template fails without retry, saying what to fix', async () => {
    const wrongKey = await d
      .provider({ apiKey: 'e2b_wrong' })
      .create({ metadata: {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(wrongKey instanceof E2BAuthError, String(wrongKey));
    assert.equal(wrongKey.retryable, false);
    assert.match(wrongKey.message, /E2B_API_KEY/);
    const noTemplate = await d
      .provider({ template: 'nope' })
      .create({ metadata: {} })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(noTemplate instanceof E2BTemplateError, String(noTemplate));
    assert.ok(noTemplate instanceof SandboxError && !noTemplate.retryable);
    assert.match(noTemplate.message, /template:build/);
  });
});
