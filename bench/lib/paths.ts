import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (bench/lib/../..). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH_DIR = path.join(REPO_ROOT, 'bench');
/** Scratch space for builds, sandboxes, transcripts and profiles (git-ignored). */
export const BENCH_TMP = path.join(BENCH_DIR, 'tmp');
/** Where bench/*.ts that must run without a TypeScript loader are compiled to (with src/). */
export const BUILD_DIR = path.join(BENCH_TMP, 'build');
