/**
 * What a local sandbox keeps on disk about itself: its record (`sandbox.json`) and one record
 * per process group it started (`procs/<pid>.json`), so a restarted worker can still find,
 * reattach to and kill them. Files are written atomically (temp file + rename).
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { z } from 'zod';

export const SANDBOX_ID_RE = /^sbx-[0-9a-f]{16}$/;
export const SandboxRecord = z.object({
  sandboxId: z.string(),
  provider: z.literal('local'),
  metadata: z.record(z.string(), z.string()),
  /** ms since epoch */
  createdAt: z.number(),
  timeoutSeconds: z.number(),
  /** ms since epoch; recorded only, nothing enforces it yet */
  expiresAt: z.number(),
  isolation: z.enum(['bubblewrap', 'none']),
});
export type SandboxRecord = z.infer<typeof SandboxRecord>;

export const ProcRecord = z.object({
  pid: z.number().int().positive(),
  /** /proc start time of the group leader; null when it was gone before it could be read. */
  startTime: z.number().nullable(),
  startedAt: z.number(),
});
export type ProcRecord = z.infer<typeof ProcRecord>;

export async function readJson<T>(file: string, schema: z.ZodType<T>): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export function readSandboxRecord(dir: string): Promise<SandboxRecord | undefined> {
  return readJson(path.join(dir, 'sandbox.json'), SandboxRecord);
}

export async function readProcRecords(dir: string): Promise<ProcRecord[]> {
  const names = await readdir(path.join(dir, 'procs')).catch(() => []);
  const out: ProcRecord[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const rec = await readJson(path.join(dir, 'procs', name), ProcRecord);
    if (rec !== undefined) out.push(rec);
  }
  return out;
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, file);
}

/** rm -rf that also copes with dirs the agent made unwritable (matters when not root). */
export async function forceRemove(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    await makeWritable(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700).catch(() => undefined);
  for (const entry of await readdir(dir).catch(() => [])) {
    const p = path.join(dir, entry);
    if ((await lstat(p).catch(() => undefined))?.isDirectory()) await makeWritable(p);
  }
}
