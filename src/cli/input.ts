import { readFile } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
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
