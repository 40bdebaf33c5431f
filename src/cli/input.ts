import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { classifyRepoUrl } from '../domain/git.js';
import { describeZodError } from '../schemas/describe-error.js';
import { compileResultSchema } from '../schemas/result-schema.js';
import { JsonSchemaObject } from '../schemas/task-spec.js';
import { UsageError } from './errors.js';
import { InvalidInputError, readWorkspaceFiles as readFiles } from '../client/index.js';

/** Local input of the commands, read and checked before anything connects; errors name the flag. */

/** A commander argument parser for numbers (`--max-turns 5`). */
export function number(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`must be a number, not "${raw}"`);
  return n;
}

/** A commander argument parser for positive integers (`--limit 20`). */
export function positiveInteger(raw: string): number {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`must be a positive integer, not "${raw}"`);
  return n;
}

/** A commander argument parser for counts that may be 0 (`--depth 0`). */
export function nonNegativeInteger(raw: string): number {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be 0 or a positive integer, not "${raw}"`);
  return n;
}

/**
 * `--repo`: a URL as it is; anything else is a local path, made absolute (the worker reads it,
 * from its own working directory) and checked to exist here.
 */
export async function repoLocation(raw: string): Promise<string> {
  const kind = classifyRepoUrl(raw);
  if ('kind' in kind && kind.kind !== 'path') return raw;
  const abs = path.resolve(raw);
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new UsageError(`--repo: ${raw} is neither a repository URL (https, ssh, git, file) nor a directory here`);
  }
  return abs;
}

/** Reads a JSON file named by a flag. */
export async function readJsonFile(file: string, flag: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${flag}: ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads a result schema file: a JSON Schema of an object that zod can compile. */
export async function readSchemaFile(file: string, flag = '--schema'): Promise<Record<string, unknown>> {
  const value = await readJsonFile(file, flag);
  const parsed = JsonSchemaObject.safeParse(value);
  if (!parsed.success) throw new UsageError(`${flag}: ${file}: ${describeZodError(parsed.error).replace(/^\(input\): /, '')}`);
  try {
    compileResultSchema(parsed.data);
  } catch (err) {
    throw new UsageError(`${flag}: ${file}: ${(err as Error).message}`);
  }
  return parsed.data;
}

/** A directory's files as TaskSpec `files`; the client's reader, with errors that name the flag. */
export async function readWorkspaceFiles(dir: string): Promise<Record<string, string>> {
  try {
    return await readFiles(dir);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new UsageError(`--files: ${err.message}`);
    throw err;
  }
}
