// Part of `npm install` (scripts/setup.mjs): makes sure a nats-server exists for the NATS front
// end's tests and `ccflow dev --nats`. A system one (Debian's `nats-server` package, which CI
// installs in seconds) is used as it is; without one, the pinned release is built with Go into
// .venv/bin, like the Temporal CLI (about 5 minutes on a cold module cache, then cached).
// Never fatal: only the NATS parts need it, and src/testing/nats-server.ts says how to get one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function systemNatsServer() {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SYSTEM_DIRS];
  return dirs.map((d) => path.join(d, 'nats-server')).find((p) => existsSync(p));
}

/** `version`: the pin in package.json ("ccflow" → "tools" → "nats-server"). */
export function installNatsServer(root, version, log) {
  const bin = path.join(root, '.venv', 'bin');
  if (process.env.CCFLOW_NATS_SERVER || existsSync(path.join(bin, 'nats-server')) || systemNatsServer()) return;
  if (spawnSync('go', ['version']).status !== 0) {
    log(
      'note: no nats-server found; the NATS front end needs one: `sudo apt-get install nats-server`, or install Go and run `npm install` again',
    );
    return;
  }
  log(`building nats-server v${version} with go install into .venv/bin`);
  mkdirSync(bin, { recursive: true });
  const go = spawnSync('go', ['install', `github.com/nats-io/nats-server/v2@v${version}`], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: bin },
  });
  if (go.status !== 0) log('note: go install of nats-server failed; install it with `sudo apt-get install nats-server`');
}
