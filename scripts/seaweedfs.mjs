#!/usr/bin/env node
// Builds the pinned SeaweedFS (`weed`), the S3-compatible object store the test suite runs the
// S3 artifact store against, and caches it under ~/.cache/ccflow like the Temporal tools.
// Run by scripts/setup.mjs; on its own, `node scripts/seaweedfs.mjs` builds if needed and prints
// the binary's path. CCFLOW_WEED_BIN points at another build instead (nothing is built then).
//
// Why a build: no npm, PyPI or Debian package ships SeaweedFS, and `go install` refuses the
// module because its go.mod has replace directives. `go build` run inside the downloaded module
// directory makes it the main module, so the replace directives apply; go only reads that
// (read-only) directory, so nothing has to be copied out of the module cache.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODULE = 'github.com/seaweedfs/seaweedfs';

/** The pinned module version, from package.json ("ccflow" → "tools" → "seaweedfs"). */
export function seaweedVersion() {
  return JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).ccflow.tools.seaweedfs;
}

/** Where the build for `version` is cached (shared by every clone on the machine). */
export function cachedWeedPath(version = seaweedVersion()) {
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'ccflow', 'seaweedfs', version, 'weed');
}

/** The commit a pseudo-version names: stamped into the binary, so `weed version` proves which build it is. */
function commitOf(version) {
  return version.split('-').pop();
}

/** Whether `bin` runs and reports the pinned commit ("version 30GB 4.53 7506e5f91cd6 linux amd64"). */
export function isPinnedBuild(bin, version = seaweedVersion()) {
  if (!existsSync(bin)) return false;
  const r = spawnSync(bin, ['version'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 && r.stdout.includes(` ${commitOf(version)} `);
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${(r.stderr || r.stdout).slice(-4000)}`);
  return r.stdout;
}

/**
 * Builds and caches the pinned weed unless a valid build is there. Returns its path.
 * `log` receives progress lines.
 */
export function ensureWeed(log = (msg) => console.log(`ccflow setup: ${msg}`)) {
  if (process.env.CCFLOW_WEED_BIN) return process.env.CCFLOW_WEED_BIN;
  const version = seaweedVersion();
  const bin = cachedWeedPath(version);
  if (isPinnedBuild(bin, version)) return bin;

  const env = {
    ...process.env,
    // Ours, whatever the user's: no vendoring or VCS stamping, no go.work from a parent
    // directory, never a toolchain download (an older Go fails clearly instead), and a static
    // binary that needs no C compiler.
    GOFLAGS: '-mod=readonly -buildvcs=false',
    GOWORK: 'off',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
  if (spawnSync('go', ['version'], { env }).status !== 0) {
    throw new Error('SeaweedFS (the S3 server of the test suite) is built from source and needs Go 1.26 or later on PATH');
  }
  log(
    `building SeaweedFS ${commitOf(version)} with ${run('go', ['env', 'GOVERSION'], { env }).trim()} (about 4 minutes on 2 cores, once per machine)`,
  );
  const info = JSON.parse(run('go', ['mod', 'download', '-json', `${MODULE}@${version}`], { env, cwd: os.tmpdir() }));
  if (!info.Dir) throw new Error(`go mod download ${MODULE}@${version} did not report a directory: ${JSON.stringify(info).slice(0, 500)}`);
  const staging = path.join(path.dirname(bin), `.build-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  try {
    const ldflags = `-s -w -X ${MODULE}/weed/util/version.COMMIT=${commitOf(version)}`;
    run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', path.join(staging, 'weed'), './weed'], { env, cwd: info.Dir });
    // Renamed into place whole, so a build killed half way never looks like a cached binary.
    renameSync(path.join(staging, 'weed'), bin);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  writeFileSync(
    path.join(path.dirname(bin), 'weed.json'),
    `${JSON.stringify({ module: MODULE, version, builtAt: new Date().toISOString() }, null, 2)}\n`,
  );
  if (!isPinnedBuild(bin, version)) throw new Error(`built ${bin}, but \`weed version\` does not report commit ${commitOf(version)}`);
  log(`SeaweedFS built: ${bin}`);
  return bin;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureWeed((msg) => console.error(`ccflow: ${msg}`)));
  } catch (err) {
    console.error(`ccflow: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
