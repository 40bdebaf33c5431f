#!/usr/bin/env node
// The `ccflow` command. Runs the compiled code in dist/ (built by `npm install`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('ccflow: dist/ is missing; run `npm install` (or `npm run build`) in the ccflow directory first');
  process.exit(1);
}
await import(entry.href);
