import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { insideRoot, taskDirName } from './names.js';
import type { ArtifactStore, TaskRef } from './types.js';

/**
 * Keeps artifacts in a local directory: `<root>/<namespace>/<workflow id>/<name>`, each level
 * encoded so that no two tasks share a directory (names.ts). Directories are 0700: transcripts
 * are for the worker's user only.
 */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  location(task: TaskRef): string {
    return insideRoot(this.root, taskDirName(task.namespace, task.workflowId));
  }

  async put(task: TaskRef, name: string, content: Buffer | string): Promise<string> {
    const file = this.#file(task, name);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Write then rename, so a reader never sees half a transcript.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, file);
    return file;
  }

  async get(task: TaskRef, name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#file(task, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(task: TaskRef): Promise<string[]> {
    const dir = this.location(task);
    try {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      return entries
        .filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  #file(task: TaskRef, name: string): string {
    // Names come from ccflow's own code (`runs/run-1/a1/transcript.jsonl`); checked all the same.
    return insideRoot(this.location(task), ...name.split('/').map(safeSegment));
  }
}

/** Keeps one path segment of a name harmless. */
function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._@=-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}
