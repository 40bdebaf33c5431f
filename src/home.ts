import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where ccflow's own files are on this machine: the package (for the pinned tools it installs
 * when developed, and the result server it mounts into sandboxes) and the state directory.
 * Node-side only: the worker, the CLI and the testing helpers share it.
 */

/** The package root (where package.json is), from src/ or dist/ alike. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where ccflow keeps its state by default (dev server db, sandboxes, artifacts). */
export function ccflowHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.CCFLOW_HOME ?? path.join(os.homedir(), '.ccflow');
}

/** A binary the project installs into its .venv when it is developed (`npm install` in a clone). */
export function venvBinary(name: string): string {
  return path.join(PACKAGE_ROOT, '.venv', 'bin', name);
}
