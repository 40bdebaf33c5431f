import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { describeZodError } from '../schemas/describe-error.js';
import { compileResultSchema } from '../schemas/result-schema.js';
import { JsonSchemaObject } from '../schemas/task-spec.js';
import { UsageError } from './errors.js';

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

/** Workspace seed files travel in the workflow input, so they are kept small. */
const MAX_SEED_BYTES = 512 * 1024;
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/** A directory's files as TaskSpec `files` (relative path → content). */
export async function readWorkspaceFiles(dir: string): Promise<Record<string, string>> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`--files: ${dir} is not a directory`);
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) await walk(relPath);
      } else if (entry.isFile()) {
        const content = await readFile(path.join(dir, relPath), 'utf8');
        total += Buffer.byteLength(content);
        if (total > MAX_SEED_BYTES) {
          throw new UsageError(
            `--files: ${dir} holds more than ${MAX_SEED_BYTES / 1024} KB; seed files travel in workflow history, keep them small`,
          );
        }
        out[relPath] = content;
      }
    }
  };
  await walk('');
  return out;
}
