/**
 * Reading files the agent controls without trusting their size: a result file, the attempts
 * log, stderr and transcripts are the agent's to write, and a 2 GB file must not become 2 GB
 * in the worker's memory. Sizes are checked before reading, and reads never ask for more.
 */
import { SandboxInputError } from './errors.js';
import type { Sandbox } from './types.js';

/** Thrown when an agent-controlled file is over the size ccflow reads. */
export class FileTooLargeError extends SandboxInputError {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`${path} is ${size} bytes, over the ${maxBytes}-byte limit for reading it`);
  }
}

/** The whole file, or undefined when it does not exist; FileTooLargeError when it is over `maxBytes`. */
export async function readBounded(sandbox: Sandbox, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const size = await sandbox.fileSize(path);
  if (size === undefined) return undefined;
  if (size > maxBytes) throw new FileTooLargeError(path, size, maxBytes);
  // It may grow between the two calls: ask for one byte more than allowed to notice.
  const data = await sandbox.readFileFrom(path, 0, maxBytes + 1);
  if (data.length > maxBytes) throw new FileTooLargeError(path, data.length, maxBytes);
  return data;
}

/** The last `bytes` of a file (empty when there is none). */
export async function readTail(sandbox: Sandbox, path: string, bytes: number): Promise<Buffer> {
  const size = await sandbox.fileSize(path);
  if (size === undefined || size === 0) return Buffer.alloc(0);
  return sandbox.readFileFrom(path, Math.max(0, size - bytes), bytes);
}

/** The first `maxBytes` of a file and whether there was more (for archiving transcripts). */
export async function readHead(
  sandbox: Sandbox,
  path: string,
  maxBytes: number,
): Promise<{ data: Buffer; truncated: boolean } | undefined> {
  const size = await sandbox.fileSize(path);
  if (size === undefined) return undefined;
  const data = await sandbox.readFileFrom(path, 0, Math.min(size, maxBytes));
  return { data, truncated: size > maxBytes };
}
