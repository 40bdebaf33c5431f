/**
 * What the model proxy remembers beyond a token's signature: which sandboxes were torn down
 * (their tokens are refused from then on) and what each agent run has spent. Kept on disk by
 * the worker, so a restarted worker still refuses revoked tokens and still knows how much of
 * its budget a reattached run used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { z } from 'zod';

export const UpstreamError = z.object({
  status: z.number().int(),
  /** The `retry-after` header in seconds, when upstream sent one. */
  retryAfterSeconds: z.number().nonnegative().optional(),
  /** `error.type` from the body or SSE error event (e.g. `overloaded_error`). */
  errorType: z.string().optional(),
  /** ms since epoch */
  at: z.number(),
});
export type UpstreamError = z.infer<typeof UpstreamError>;

/** One agent run's traffic through the proxy. */
export const RunUsage = z.object({
  requests: z.number().int().nonnegative(),
  costUsd: z.number().nonnegative(),
  /** Some response named a model the price table does not know (priced at the fallback tier). */
  estimated: z.boolean(),
  tokens: z.object({
    input: z.number().int().nonnegative(),
    output: z.number().int().nonnegative(),
    cacheRead: z.number().int().nonnegative(),
    cacheCreation: z.number().int().nonnegative(),
  }),
  models: z.array(z.string()),
  /** The budget the run's token carries, if any. */
  budgetUsd: z.number().nonnegative().optional(),
  /** Requests refused because the run had spent its budget. */
  budgetRefusals: z.number().int().nonnegative(),
  /** Upstream 429 / 529 (and other 5xx) answers, the most recent last (at most 20 kept). */
  upstreamErrors: z.array(UpstreamError),
  rateLimited: z.number().int().nonnegative(),
  overloaded: z.number().int().nonnegative(),
});
export type RunUsage = z.infer<typeof RunUsage>;

export const emptyRunUsage = (budgetUsd?: number): RunUsage => ({
  requests: 0,
  costUsd: 0,
  estimated: false,
  tokens: { input: 0, output: 0, cacheRead: 0, cacheCreation: 0 },
  models: [],
  ...(budgetUsd === undefined ? {} : { budgetUsd }),
  budgetRefusals: 0,
  upstreamErrors: [],
  rateLimited: 0,
  overloaded: 0,
});

export interface ProxyStateStore {
  /** Loads what earlier processes persisted; call once before serving. */
  load(): Promise<void>;
  isRevoked(sandboxId: string): boolean;
  revoke(sandboxId: string): Promise<void>;
  loadRun(sandboxId: string, runKey: string): Promise<RunUsage | undefined>;
  saveRun(sandboxId: string, runKey: string, usage: RunUsage): Promise<void>;
}

/** For tests and single-process tools: nothing survives the process. */
export class MemoryStateStore implements ProxyStateStore {
  private readonly revoked = new Set<string>();
  private readonly runs = new Map<string, RunUsage>();
  async load(): Promise<void> {}
  isRevoked(sandboxId: string): boolean {
    return this.revoked.has(sandboxId);
  }
  async revoke(sandboxId: string): Promise<void> {
    this.revoked.add(sandboxId);
    for (const k of this.runs.keys()) if (k.startsWith(`${sandboxId}\0`)) this.runs.delete(k);
  }
  async loadRun(sandboxId: string, runKey: string): Promise<RunUsage | undefined> {
    return this.runs.get(`${sandboxId}\0${runKey}`);
  }
  async saveRun(sandboxId: string, runKey: string, usage: RunUsage): Promise<void> {
    this.runs.set(`${sandboxId}\0${runKey}`, usage);
  }
}

const RevokedLine = z.object({ sbx: z.string(), at: z.number() });

/**
 * `<dir>/revoked.jsonl` (one line per torn-down sandbox, pruned after the token lifetime) and
 * `<dir>/runs/<sandbox hash>/<run hash>.json`, deleted with the sandbox's revocation.
 */
export class FileStateStore implements ProxyStateStore {
  private readonly revoked = new Map<string, number>();

  constructor(
    private readonly dir: string,
    private readonly opts: { retainMs: number; now?: () => number },
  ) {}

  async load(): Promise<void> {
    await mkdir(path.join(this.dir, 'runs'), { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, 'revoked.jsonl');
    const text = await readFile(file, 'utf8').catch(() => '');
    const now = (this.opts.now ?? Date.now)();
    let dropped = 0;
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const r = RevokedLine.parse(JSON.parse(line));
        if (now - r.at <= this.opts.retainMs) this.revoked.set(r.sbx, r.at);
        else dropped += 1;
      } catch {
        dropped += 1;
      }
    }
    if (dropped > 0) {
      // Tokens older than retainMs are refused anyway: their revocations can go.
      const kept = [...this.revoked].map(([sbx, at]) => `${JSON.stringify({ sbx, at })}\n`).join('');
      const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, kept, { mode: 0o600 });
      await rename(tmp, file);
    }
  }

  isRevoked(sandboxId: string): boolean {
    return this.revoked.has(sandboxId);
  }

  async revoke(sandboxId: string): Promise<void> {
    const at = (this.opts.now ?? Date.now)();
    this.revoked.set(sandboxId, at);
    await appendFile(path.join(this.dir, 'revoked.jsonl'), `${JSON.stringify({ sbx: sandboxId, at })}\n`, { mode: 0o600 });
    await rm(this.sandboxDir(sandboxId), { recursive: true, force: true });
  }

  async loadRun(sandboxId: string, runKey: string): Promise<RunUsage | undefined> {
    const text = await readFile(this.runFile(sandboxId, runKey), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const parsed = RunUsage.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async saveRun(sandboxId: string, runKey: string, usage: RunUsage): Promise<void> {
    const file = this.runFile(sandboxId, runKey);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(usage), { mode: 0o600 });
    await rename(tmp, file);
  }

  private sandboxDir(sandboxId: string): string {
    return path.join(this.dir, 'runs', hash(sandboxId));
  }

  private runFile(sandboxId: string, runKey: string): string {
    return path.join(this.sandboxDir(sandboxId), `${hash(runKey)}.json`);
  }
}

/** Ids and run keys come from callers: hash them into safe, fixed-length file names. */
function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 32);
}
