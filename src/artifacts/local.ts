import { mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from './types.js';

/** Keeps artifacts in a local directory: `<root>/<taskId>/<name>`. */
export class LocalArtifactStore implements ArtifactStore {
  constructor(readonly root: string) {}

  location(taskId: string): string {
    return path.join(this.root, safeSegment(taskId));
  }

  async put(taskId: string, name: string, content: Buffer | string): Promise<string> {
    const file = this.#file(taskId, name);
    await mkdir(path.dirname(file), { recursive: true });
    // Write then rename, so a reader never sees half a transcript.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, content);
    await rename(tmp, file);
    return file;
  }

  async get(taskId: string, name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#file(taskId, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(taskId: string): Promise<string[]> {
    const dir = this.location(taskId);
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

  #file(taskId: string, name: string): string {
    const parts = name.split('/').map(safeSegment);
    return path.join(this.location(taskId), ...parts);
  }
}

/** Workflow ids may hold any character; keep each path segment harmless. */
function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._@=-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}
