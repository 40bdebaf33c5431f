/**
 * Where a task's durable leftovers go (transcripts, stderr, result attempts), outside both the
 * sandbox (destroyed) and workflow history (kept small).
 */
export interface ArtifactStore {
  /** Stores one file under a task; `name` may contain `/`. Returns where it went (a URI or path). */
  put(taskId: string, name: string, content: Buffer | string): Promise<string>;
  /** Reads a stored file, or undefined. */
  get(taskId: string, name: string): Promise<Buffer | undefined>;
  /** Names stored under a task, sorted. */
  list(taskId: string): Promise<string[]>;
  /** Where a task's files live, for people (a directory path or URI). */
  location(taskId: string): string;
}
