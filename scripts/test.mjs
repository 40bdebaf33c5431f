#!/usr/bin/env node
// `npm test`: every tests/**/*.test.ts through Node's test runner (TypeScript via tsx), then one
// closing summary line. Extra arguments narrow the run: `npm test -- tests/unit`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const roots = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['tests'];

function collect(p) {
  const full = path.resolve(root, p);
  if (statSync(full).isFile()) return [full];
  return readdirSync(full, { recursive: true })
    .map((f) => path.join(full, String(f)))
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
}

const files = roots.flatMap(collect);
const tapDir = mkdtempSync(path.join(os.tmpdir(), 'ccflow-tap-'));
const tapFile = path.join(tapDir, 'report.tap');
const args = [
  '--import', 'tsx',
  '--test',
  '--test-timeout=900000',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => {
  let passed = 0;
  let failed = 0;
  try {
    const tap = readFileSync(tapFile, 'utf8');
    passed = Number(/^# pass (\d+)/m.exec(tap)?.[1] ?? 0);
    failed = Number(/^# fail (\d+)/m.exec(tap)?.[1] ?? 0);
  } catch {
    failed = failed || 1;
  }
  rmSync(tapDir, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code ?? (signal ? 1 : 0));
});
