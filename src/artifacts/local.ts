import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { insideRoot, taskDirName } from './names.js';
import type { ArtifactGetStreamOpts, ArtifactPutStreamOpts, ArtifactReadStream, ArtifactStore, StoredArtifact, TaskRef } from './types.js';

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
    const tmp = tempName(file);
    await writeFile(tmp, content, { mode: 0o600 });
    await rename(tmp, file);
    return file;
  }

  async putStream(task: TaskRef, name: string, body: Readable, opts: ArtifactPutStreamOpts = {}): Promise<StoredArtifact> {
    const file = this.#file(task, name);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = tempName(file);
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        opts.onProgress?.(bytes);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp, { mode: 0o600 }), ...(opts.signal ? [{ signal: opts.signal }] : []));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { location: file, bytes };
  }

  async get(task: TaskRef, name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#file(task, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async getStream(task: TaskRef, name: string, opts: ArtifactGetStreamOpts = {}): Promise<ArtifactReadStream | undefined> {
    // Opened first, so a file renamed over it afterwards cannot mix two versions.
    const handle = await open(this.#file(task, name), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!handle) return undefined;
    const { size } = await handle.stat();
    return { body: createReadStream('', { fd: handle, ...(opts.signal ? { signal: opts.signal } : {}) }), bytes: size };
  }

  async list(task: TaskRef): Promise<string[]> {
    const dir = this.location(task);
    try {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && !e.name.endsWith('.ccflow-tmp'))
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await access(this.root, 2 /* W_OK */);
    if (!(await stat(this.root)).isDirectory()) throw new Error(`the artifact directory ${this.root} is not a directory`);
  }

  #file(task: TaskRef, name: string): string {
    // Names come from ccflow's own code (`runs/run-1/a1/transcript.jsonl`); checked all the same.
    return insideRoot(this.location(task), ...name.split('/').map(safeSegment));
  }
}

/** A temporary name beside `file`, unique per writer, so two writers never share one. */
function tempName(file: string): string {
  return `${file}.${process.pid}-${randomBytes(4).toString('hex')}.ccflow-tmp`;
}

/** Keeps one path segment of a name harmless. */
function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._@=-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}
