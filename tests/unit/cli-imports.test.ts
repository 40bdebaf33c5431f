/**
 * `ccflow status` must not load the worker: the CLI's entry reaches the worker, the sandbox
 * providers and the e2b SDK only through dynamic imports, in the commands that need them.
 * Checked on the static import graph of the sources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/home.js';

/** Every module a file loads before any of its code runs (static imports and re-exports, not `import type`). */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

test("the CLI's entry loads neither the worker, the providers nor the e2b SDK until a command needs them", () => {
  const { files, packages } = staticGraph(path.join(PACKAGE_ROOT, 'src/cli/main.ts'));
  const rel = [...files].map((f) => path.relative(path.join(PACKAGE_ROOT, 'src'), f));
  assert.ok(rel.includes('cli/program.ts') && rel.some((f) => f.startsWith('client/')), 'the graph was followed');
  for (const f of rel) assert.doesNotMatch(f, /^(worker|sandbox|activities|testing)\//, `${f} is loaded by every command`);
  for (const p of packages) assert.doesNotMatch(p, /^(@temporalio\/worker|e2b)$/, `${p} is loaded by every command`);
});
