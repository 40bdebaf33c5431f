import type { Readable } from 'node:stream';

/**
 * Where a task's durable leftovers go (transcripts, stderr, result attempts, saved sessions and
 * workspace tarballs), outside both the sandbox (destroyed) and workflow history (kept small).
 *
 * Every store guarantees the same thing to readers: a stored file is either the previous
 * version (or absent) or the whole new one, never a prefix of it, even when a writer dies half
 * way. Workers on several hosts need a store they all reach (S3); the local directory suits
 * one machine.
 */

/** A task, as the store files it: tasks of two namespaces never share anything. */
export interface TaskRef {
  namespace: string;
  workflowId: string;
}

export interface ArtifactStore {
  /** Stores one file under a task; `name` may contain `/`. Returns where it went (a URI or path). */
  put(task: TaskRef, name: string, content: Buffer | string): Promise<string>;
  /**
   * Stores a stream under a task without holding it in memory whole (workspace tarballs can
   * be hundreds of MB). Readers see the file only once the last byte is stored.
   */
  putStream(task: TaskRef, name: string, body: Readable, opts?: ArtifactPutStreamOpts): Promise<StoredArtifact>;
  /** Reads a stored file, or undefined. For small files; large ones go through getStream. */
  get(task: TaskRef, name: string): Promise<Buffer | undefined>;
  /** Opens a stored file for streaming, or undefined when it does not exist. */
  getStream(task: TaskRef, name: string, opts?: ArtifactGetStreamOpts): Promise<ArtifactReadStream | undefined>;
  /** Names stored under a task, sorted. */
  list(task: TaskRef): Promise<string[]>;
  /** Where a task's files live, for people (a directory path or URI). Never holds a secret. */
  location(task: TaskRef): string;
  /**
   * Checks the store is usable with this configuration (the bucket exists, the credentials are
   * accepted), so a misconfigured worker fails at start with a clear error, not in a task.
   */
  check(): Promise<void>;
}

export interface ArtifactPutStreamOpts {
  /** Aborts the upload; nothing of it becomes visible. */
  signal?: AbortSignal;
  /** Called as bytes are stored (uploads of large files heartbeat through it). */
  onProgress?: (bytesStored: number) => void;
}

export interface ArtifactGetStreamOpts {
  signal?: AbortSignal;
}

export interface StoredArtifact {
  /** Where it went (a URI or path). */
  location: string;
  bytes: number;
}

export interface ArtifactReadStream {
  body: Readable;
  /** The stored size. */
  bytes: number;
}
