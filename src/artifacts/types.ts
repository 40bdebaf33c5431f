/**
 * Where a task's durable leftovers go (transcripts, stderr, result attempts, saved sessions),
 * outside both the sandbox (destroyed) and workflow history (kept small).
 */

/** A task, as the store files it: tasks of two namespaces never share anything. */
export interface TaskRef {
  namespace: string;
  workflowId: string;
}

export interface ArtifactStore {
  /** Stores one file under a task; `name` may contain `/`. Returns where it went (a URI or path). */
  put(task: TaskRef, name: string, content: Buffer | string): Promise<string>;
  /** Reads a stored file, or undefined. */
  get(task: TaskRef, name: string): Promise<Buffer | undefined>;
  /** Names stored under a task, sorted. */
  list(task: TaskRef): Promise<string[]>;
  /** Where a task's files live, for people (a directory path or URI). */
  location(task: TaskRef): string;
}
