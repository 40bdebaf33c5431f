import { readFile, stat } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import { resolveRepoLocation } from '../client/index.js';
import { parseAllowEntry, type EgressPolicy } from '../domain/network.js';
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

/** A commander argument parser for a TCP port, 0 meaning "a free one" (`--http 0`). */
export function port(raw: string): number {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`must be a port number (0-65535), not "${raw}"`);
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
  const { url: abs, local } = resolveRepoLocation(raw);
  if (!local) return abs;
  const info = await stat(abs).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new UsageError(`--repo: ${raw} is neither a repository URL (https, ssh, git, file) nor a directory here`);
  }
  return abs;
}

/** A commander argument parser for `--network`: `none`, `model`, `open`, or a comma-separated allow-list of hosts. */
export function networkPolicy(raw: string): EgressPolicy {
  const v = raw.trim();
  if (v === 'none' || v === 'model' || v === 'open') return v;
  const allow = v.split(',').map((h) => h.trim());
  for (const h of allow) {
    try {
      parseAllowEntry(h);
    } catch (err) {
      throw new InvalidArgumentError(`must be none, model, open or hosts separated by commas: ${(err as Error).message}`);
    }
  }
  return { allow };
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
