import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactGetStreamOpts, ArtifactPutStreamOpts, ArtifactReadStream, ArtifactStore, StoredArtifact } from './types.js';

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
    const tmp = tempName(file);
    await writeFile(tmp, content);
    await rename(tmp, file);
    return file;
  }

  async putStream(taskId: string, name: string, body: Readable, opts: ArtifactPutStreamOpts = {}): Promise<StoredArtifact> {
    const file = this.#file(taskId, name);
    await mkdir(path.dirname(file), { recursive: true });
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
      await pipeline(body, count, createWriteStream(tmp), ...(opts.signal ? [{ signal: opts.signal }] : []));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { location: file, bytes };
  }

  async get(taskId: string, name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.#file(taskId, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async getStream(taskId: string, name: string, opts: ArtifactGetStreamOpts = {}): Promise<ArtifactReadStream | undefined> {
    // Opened first, so a file renamed over it afterwards cannot mix two versions.
    const handle = await open(this.#file(taskId, name), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!handle) return undefined;
    const { size } = await handle.stat();
    return { body: createReadStream('', { fd: handle, ...(opts.signal ? { signal: opts.signal } : {}) }), bytes: size };
  }

  async list(taskId: string): Promise<string[]> {
    const dir = this.location(taskId);
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
    await mkdir(this.root, { recursive: true });
    await access(this.root, 2 /* W_OK */);
    if (!(await stat(this.root)).isDirectory()) throw new Error(`the artifact directory ${this.root} is not a directory`);
  }

  #file(taskId: string, name: string): string {
    const parts = name.split('/').map(safeSegment);
    return path.join(this.location(taskId), ...parts);
  }
}

/** A temporary name beside `file`, unique per writer, so two writers never share one. */
function tempName(file: string): string {
  return `${file}.${process.pid}-${randomBytes(4).toString('hex')}.ccflow-tmp`;
}

/** Workflow ids may hold any character; keep each path segment harmless. */
function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._@=-]/g, '_');
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? '_' : cleaned;
}
