#!/usr/bin/env node
// Bundles the in-sandbox result server (fastmcp and all it imports) into one file, so a local
// sandbox's /opt/ccflow holds that file and nothing of the project's node_modules. Run by the
// build; the bundle ships in the package.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULT_SERVER_BUNDLE = path.join(root, 'dist', 'sandbox', 'result-server.mjs');

export async function bundleResultServer(outfile = RESULT_SERVER_BUNDLE) {
  await build({
    entryPoints: [path.join(root, 'sandbox-template', 'result-server', 'server.mjs')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    legalComments: 'none',
    // Optional schema adapters of fastmcp's xsschema, loaded only for libraries ccflow never
    // hands it (it passes zod); they are not installed.
    external: ['effect', 'sury', '@valibot/to-json-schema', 'arktype', '@cfworker/json-schema'],
    // Some bundled CommonJS calls require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __ccflowRequire } from 'node:module'; const require = __ccflowRequire(import.meta.url);" },
  });
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleResultServer(process.argv[2]).then(
    (out) => console.error(`ccflow: result server bundled to ${path.relative(process.cwd(), out)}`),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
