#!/usr/bin/env node
// `npm test`: every tests/**/*.test.ts through Node's test runner (TypeScript via tsx), then one
// closing summary line. The fast workflow tests (tests/workflow, time-skipping server) run
// first and their time is reported on its own line. Extra arguments narrow the run:
// `npm test -- tests/unit`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKFLOW_DIR = path.join(root, 'tests', 'workflow');
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['tests'];

function collect(p) {
  const full = path.resolve(root, p);
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { recursive: true })
    .map((f) => path.join(full, String(f)))
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
}

/** Runs some test files; resolves to their pass and fail counts and exit code. */
function run(files) {
  const tapDir = mkdtempSync(path.join(os.tmpdir(), 'ccflow-tap-'));
  const tapFile = path.join(tapDir, 'report.tap');
  const args = [
    '--import',
    'tsx',
    '--test',
    '--test-timeout=900000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ];
  const startedAt = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      let passed = 0;
      let failed;
      try {
        const tap = readFileSync(tapFile, 'utf8');
        passed = Number(/^# pass (\d+)/m.exec(tap)?.[1] ?? 0);
        failed = Number(/^# fail (\d+)/m.exec(tap)?.[1] ?? 0);
      } catch {
        failed = 1;
      }
      rmSync(tapDir, { recursive: true, force: true });
      resolve({ passed, failed, code: code ?? (signal ? 1 : 0), seconds: (performance.now() - startedAt) / 1000 });
    });
  });
}

const files = roots.flatMap(collect);
const fast = files.filter((f) => f.startsWith(`${WORKFLOW_DIR}${path.sep}`));
const rest = files.filter((f) => !fast.includes(f));
const results = [];
if (fast.length > 0) {
  const r = await run(fast);
  console.log(`workflow tests (time-skipping): ${r.passed} passed, ${r.failed} failed in ${r.seconds.toFixed(1)} s`);
  results.push(r);
}
if (rest.length > 0) {
  const r = await run(rest);
  if (fast.length > 0) console.log(`other tests: ${r.passed} passed, ${r.failed} failed in ${r.seconds.toFixed(1)} s`);
  results.push(r);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
