import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from './errors.js';

/** Workspace seed files travel in the workflow input, so they are kept small. */
export const MAX_SEED_BYTES = 512 * 1024;
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/**
 * A directory's files as TaskSpec `files` (relative path → content), skipping `.git` and
 * `node_modules`. `label` names the input in errors (`--files`, `filesFrom`).
 */
export async function readWorkspaceFiles(dir: string, label = 'files'): Promise<Record<string, string>> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new InvalidInputError(`${label}: ${dir} is not a directory`);
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) await walk(relPath);
      } else if (entry.isFile()) {
        const content = await readFile(path.join(dir, relPath), 'utf8');
        total += Buffer.byteLength(content);
        if (total > MAX_SEED_BYTES) {
          throw new InvalidInputError(
            `${label}: ${dir} holds more than ${MAX_SEED_BYTES / 1024} KB; seed files travel in workflow history, keep them small`,
          );
        }
        out[relPath] = content;
      }
    }
  };
  await walk('');
  return out;
}
