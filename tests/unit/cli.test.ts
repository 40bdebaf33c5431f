/**
 * The CLI's contract with people and scripts: errors are one line without a stack trace, the
 * exit code says which kind, local input is checked before anything connects, and --help is
 * generated from the option definitions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT } from '../../src/home.js';

const MAIN = path.join(PACKAGE_ROOT, 'src/cli/main.ts');
/** Nothing listens here: a command that connected would report the server as unreachable (exit 3). */
const NO_SERVER = '127.0.0.1:9';

async function ccflow(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: NO_SERVER, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  return lines[0] ?? '';
}

test('with no server, task commands say where they looked and how to start one, in one line, exit 3', async () => {
  for (const args of [['status', 'some-task'], ['list'], ['run', 'do something'], ['cancel', 'x']]) {
    const r = await ccflow(args);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    const line = oneLine(r.stderr);
    assert.match(line, new RegExp(NO_SERVER.replace(/\./g, '\\.')));
    assert.match(line, /npx ccflow server/);
    assert.match(line, /npx ccflow dev/);
  }
});

test('local input errors are reported before connecting, in one line, exit 2', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-cli-'));
  const notObject = path.join(dir, 'string-schema.json');
  await writeFile(notObject, JSON.stringify({ type: 'string' }));
  const notJson = path.join(dir, 'broken.json');
  await writeFile(notJson, '{ nope');
  const cases: Array<[string[], RegExp]> = [
    [['run', 'x', '--schema', notObject], /--schema: .*must be a JSON Schema object with "type": "object"/],
    [['run', 'x', '--schema', path.join(dir, 'missing.json')], /--schema: cannot read .*missing\.json: ENOENT/],
    [['run', 'x', '--schema', notJson], /--schema: .*is not valid JSON/],
    [['run', 'x', '--files', path.join(dir, 'nowhere')], /--files: .* is not a directory/],
    [['run', 'x', '--max-turns', 'many'], /--max-turns <n>.*must be a number/],
    [['run', 'x', '--bogus'], /unknown option '--bogus'/],
    [['list', '--status', 'sleeping'], /--status.*Allowed choices/],
    [['followup', 'task-1', 'next', '--schema', notObject], /--schema: .*"type": "object"/],
    [['pipeline', 'run', path.join(dir, 'missing.yaml')], /cannot read .*missing\.yaml/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', 'x', '--ask', 'Bahs(git push:*)'], /approval\.tools\[0\]: rule "Bahs\(git push:\*\)": unknown tool "Bahs"/],
    [['run', 'x', '--ask-timeout', '60'], /--ask-timeout needs at least one --ask rule/],
    [['approve', 'task-1', '--deny', '--remember'], /--remember .* does not go with --deny/],
    [['run', 'x', '--ref', 'main'], /--ref, --depth and --push need --repo/],
    [['run', 'x', '--repo', path.join(dir, 'no-such-repo')], /--repo: .*no-such-repo is neither a repository URL .* nor a directory here/],
    [['run', 'x', '--repo', 'ext::sh -c id'], /--repo: ext::sh -c id is neither a repository URL/],
    [
      ['run', 'x', '--repo', 'https://git.example.com/app.git', '--ref', 'main;reboot'],
      /invalid task: repo\.ref: must not contain .*shell metacharacters/,
    ],
    [['run', 'x', '--repo', dir, '--depth', '-1'], /--depth <n>.*must be 0 or a positive integer/],
    [['diff', 'task-1', '--turn', 'two'], /--turn <n>.*must be a number/],
    [['checkout', 'task-1'], /missing required argument 'dir'/],
  ];
  for (const [args, message] of cases) {
    const r = await ccflow(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), message);
    assert.doesNotMatch(r.stderr, /no Temporal server/, 'nothing connected');
  }
});

test('--help is generated per command from its options and documents the exit codes', async () => {
  const list = await ccflow(['list', '--help']);
  assert.equal(list.code, 0);
  for (const flag of ['--status', '--limit', '--query', '--json']) assert.match(list.stdout, new RegExp(flag));
  const watch = await ccflow(['watch', '--help']);
  assert.match(watch.stdout, /--quiet/);
  const followup = await ccflow(['followup', '--help']);
  assert.match(followup.stdout, /--id <workflowId>/);
  const approve = await ccflow(['approve', '--help']);
  for (const flag of ['--deny', '--reason <text>', '--remember', '--request <requestId>']) assert.match(approve.stdout, new RegExp(flag));
  const approvals = await ccflow(['approvals', '--help']);
  assert.match(approvals.stdout, /--watch/);
  const diff = await ccflow(['diff', '--help']);
  for (const flag of ['--turn', '--stat', '--artifacts']) assert.match(diff.stdout, new RegExp(flag));
  const run = await ccflow(['run', '--help']);
  for (const flag of ['--repo', '--ref', '--depth', '--push']) assert.match(run.stdout, new RegExp(flag));
  const top = await ccflow(['--help']);
  assert.match(top.stdout, /Exit codes:[\s\S]*3 +no Temporal server/);
  assert.match(top.stdout, /CCFLOW_TASK_QUEUE/);
});
