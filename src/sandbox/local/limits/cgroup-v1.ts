/**
 * Limits through cgroup v1: one group per sandbox in the memory, pids and (when mounted) cpu
 * hierarchies, each under the worker's own group there, so sandboxes stay inside whatever
 * accounting the worker was started under. Memory covers all the sandbox's processes together
 * (swap included where memsw exists); the kernel OOM-kills inside the group and counts it.
 */
import { realCgroupFs, type CgroupFs } from './cgroupfs.js';
import { formatBytes, type LimitController, type LimitHit, type SandboxLimits } from './types.js';

export interface CgroupV1Parents {
  /** The worker's own group directory in each hierarchy. */
  memory: string;
  pids: string;
  cpu?: string;
}

const CFS_PERIOD_US = 100_000;
/** The shell that moves itself into each group file given before `--`, then runs the command. */
const ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export class CgroupV1Limits implements LimitController {
  readonly mechanism = 'cgroup1' as const;
  private readonly limits = new Map<string, SandboxLimits>();

  constructor(
    private readonly parents: CgroupV1Parents,
    private readonly fs: CgroupFs = realCgroupFs,
    /** Name of the group that holds every sandbox's group. */
    private readonly slice = 'ccflow',
  ) {}

  describe(): string {
    return `cgroup v1 (memory, pids${this.parents.cpu ? ', cpu' : ''} under ${this.parents.memory}/${this.slice})`;
  }

  async create(sandboxId: string, limits: SandboxLimits): Promise<void> {
    this.limits.set(sandboxId, limits);
    const mem = await this.group('memory', sandboxId);
    await this.fs.write(`${mem}/memory.limit_in_bytes`, String(limits.memoryBytes));
    // memsw (memory + swap) must not be below the memory limit; absent without swap accounting.
    if (await this.fs.exists(`${mem}/memory.memsw.limit_in_bytes`)) {
      await this.fs.write(`${mem}/memory.memsw.limit_in_bytes`, String(limits.memoryBytes));
    }
    const pids = await this.group('pids', sandboxId);
    await this.fs.write(`${pids}/pids.max`, String(limits.processes));
    if (this.parents.cpu !== undefined) {
      const cpu = await this.group('cpu', sandboxId);
      // v2's weight 100 is v1's 1024 shares.
      await this.fs.write(`${cpu}/cpu.shares`, String(Math.max(2, Math.round((limits.cpuWeight * 1024) / 100))));
      const quota = limits.cpus === undefined ? -1 : Math.max(1000, Math.round(limits.cpus * CFS_PERIOD_US));
      await this.fs.write(`${cpu}/cpu.cfs_period_us`, String(CFS_PERIOD_US));
      await this.fs.write(`${cpu}/cpu.cfs_quota_us`, String(quota));
    }
  }

  wrap(sandboxId: string, argv: string[]): string[] {
    const files = this.controllers().map((c) => `${this.dir(c, sandboxId)}/cgroup.procs`);
    return ['/bin/sh', '-c', ENTER, 'sh', ...files, '--', ...argv];
  }

  async hits(sandboxId: string): Promise<LimitHit[]> {
    return cgroupHits(
      counter(await this.fs.read(`${this.dir('memory', sandboxId)}/memory.oom_control`), 'oom_kill'),
      counter(await this.fs.read(`${this.dir('pids', sandboxId)}/pids.events`), 'max'),
      this.limits.get(sandboxId),
    );
  }

  async destroy(sandboxId: string): Promise<void> {
    this.limits.delete(sandboxId);
    for (const c of this.controllers()) await rmdirWhenEmpty(this.fs, this.dir(c, sandboxId));
  }

  async dispose(): Promise<void> {
    for (const c of this.controllers()) await this.fs.rmdir(`${this.parents[c]}/${this.slice}`).catch(() => undefined);
  }

  private controllers(): Array<'memory' | 'pids' | 'cpu'> {
    return this.parents.cpu === undefined ? ['memory', 'pids'] : ['memory', 'pids', 'cpu'];
  }

  private dir(c: 'memory' | 'pids' | 'cpu', sandboxId: string): string {
    return `${this.parents[c]}/${this.slice}/${sandboxId}`;
  }

  private async group(c: 'memory' | 'pids' | 'cpu', sandboxId: string): Promise<string> {
    await this.fs.mkdir(`${this.parents[c]}/${this.slice}`);
    const dir = this.dir(c, sandboxId);
    await this.fs.mkdir(dir);
    return dir;
  }
}

/** `name N` from a flat keyed file (oom_control, pids.events, memory.events); 0 when absent. */
/** What a sandbox's cgroup counters say it ran into: OOM kills and forks refused (v1 and v2 alike). */
export function cgroupHits(oomKills: number, forksRefused: number, limits: SandboxLimits | undefined): LimitHit[] {
  const out: LimitHit[] = [];
  if (oomKills > 0) {
    out.push({
      limit: 'memory',
      count: oomKills,
      detail: `the kernel killed ${oomKills} process${oomKills === 1 ? '' : 'es'} out of memory${limits ? ` (limit ${formatBytes(limits.memoryBytes)})` : ''}`,
    });
  }
  if (forksRefused > 0) {
    out.push({
      limit: 'processes',
      count: forksRefused,
      detail: `${forksRefused} fork${forksRefused === 1 ? ' was' : 's were'} refused at the process limit${limits ? ` (${limits.processes})` : ''}`,
    });
  }
  return out;
}

export function counter(text: string | undefined, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text ?? '');
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

/** rmdir, retrying briefly: a group stays busy for a moment after its last process exits. */
export async function rmdirWhenEmpty(fs: CgroupFs, dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
