/**
 * The fallback where cgroups cannot be used: each sandbox runs under a host uid of its own
 * (so RLIMIT_NPROC, which counts a uid's processes, is the sandbox's process limit) with
 * RLIMIT_NPROC and RLIMIT_DATA set by prlimit. Weaker than cgroups, and said so at start:
 * - memory is per process (RLIMIT_DATA: heap and private writable mappings), not per sandbox;
 *   an allocation over it fails (ENOMEM) instead of being killed;
 * - there is no CPU share;
 * - hits are sampled: the number of live processes of the uid at the limit.
 * RLIMIT_DATA rather than RLIMIT_AS: it counts what a process can write (heap, private
 * mappings), not address space reserved and never used.
 */
import { readdir, readFile } from 'node:fs/promises';

import { type LimitController, type LimitHit, type SandboxLimits } from './types.js';

export interface RlimitOpts {
  /** @default 'setpriv' */
  setpriv?: string;
  /** @default 'prlimit' */
  prlimit?: string;
}

export class RlimitLimits implements LimitController {
  readonly mechanism = 'rlimit' as const;
  private readonly limits = new Map<string, SandboxLimits & { uid: number }>();

  constructor(private readonly opts: RlimitOpts = {}) {}

  describe(): string {
    return 'rlimits under a host uid per sandbox (processes per sandbox; memory per process; no CPU share)';
  }

  async create(sandboxId: string, limits: SandboxLimits, ctx: { uid?: number } = {}): Promise<void> {
    if (ctx.uid === undefined) throw new Error('internal: rlimits need the host uid a sandbox runs as');
    this.limits.set(sandboxId, { ...limits, uid: ctx.uid });
  }

  wrap(sandboxId: string, argv: string[]): string[] {
    const limits = this.limits.get(sandboxId);
    if (limits === undefined) throw new Error(`internal: no limits set up for sandbox ${sandboxId}`);
    const uid = String(limits.uid);
    return [
      this.opts.setpriv ?? 'setpriv',
      '--reuid',
      uid,
      '--regid',
      uid,
      '--clear-groups',
      '--',
      this.opts.prlimit ?? 'prlimit',
      `--nproc=${limits.processes}`,
      `--data=${limits.memoryBytes}`,
      '--',
      ...argv,
    ];
  }

  async hits(sandboxId: string): Promise<LimitHit[]> {
    const limits = this.limits.get(sandboxId);
    if (limits === undefined) return [];
    const n = await countTasksOfUid(limits.uid);
    return n >= limits.processes
      ? [{ limit: 'processes', count: 1, detail: `${n} processes and threads at the process limit (${limits.processes})` }]
      : [];
  }

  async destroy(sandboxId: string): Promise<void> {
    this.limits.delete(sandboxId);
  }

  async dispose(): Promise<void> {}
}

/** Tasks (threads count against RLIMIT_NPROC) whose real uid is `uid`. */
async function countTasksOfUid(uid: number): Promise<number> {
  let n = 0;
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (real !== undefined && Number(real) === uid) n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 1);
  }
  return n;
}
