/**
 * Limits through cgroup v2: `<parent>/ccflow/<sandbox>` with memory.max (and no swap),
 * pids.max, cpu.weight and cpu.max. The parent must delegate memory and pids to its children
 * (see detect.ts for how it is chosen); `ccflow` enables them for the sandboxes below it.
 */
import { realCgroupFs, type CgroupFs } from './cgroupfs.js';
import { cgroupHits, counter, rmdirWhenEmpty } from './cgroup-v1.js';
import { type LimitController, type LimitHit, type SandboxLimits } from './types.js';

const CPU_PERIOD_US = 100_000;
const ENTER = 'echo $$ > "$1" || exit 125; shift; exec "$@"';

export class CgroupV2Limits implements LimitController {
  readonly mechanism = 'cgroup2' as const;
  private readonly limits = new Map<string, SandboxLimits>();

  constructor(
    /** A group whose subtree_control has memory and pids enabled. */
    private readonly parent: string,
    /** Controllers the parent delegates; cpu is used when present. */
    private readonly controllers: readonly string[],
    private readonly fs: CgroupFs = realCgroupFs,
    private readonly slice = 'ccflow',
  ) {}

  describe(): string {
    return `cgroup v2 (${this.wanted().join(', ')} under ${this.parent}/${this.slice})`;
  }

  async create(sandboxId: string, limits: SandboxLimits): Promise<void> {
    this.limits.set(sandboxId, limits);
    const slice = `${this.parent}/${this.slice}`;
    await this.fs.mkdir(slice);
    await this.fs.write(
      `${slice}/cgroup.subtree_control`,
      this.wanted()
        .map((c) => `+${c}`)
        .join(' '),
    );
    const dir = this.dir(sandboxId);
    await this.fs.mkdir(dir);
    await this.fs.write(`${dir}/memory.max`, String(limits.memoryBytes));
    if (await this.fs.exists(`${dir}/memory.swap.max`)) await this.fs.write(`${dir}/memory.swap.max`, '0');
    // The whole group is OOM-killed together, not just its biggest process: a sandbox over its
    // memory limit ends rather than limping on without whatever the kernel picked.
    if (await this.fs.exists(`${dir}/memory.oom.group`)) await this.fs.write(`${dir}/memory.oom.group`, '1');
    await this.fs.write(`${dir}/pids.max`, String(limits.processes));
    if (this.wanted().includes('cpu')) {
      await this.fs.write(`${dir}/cpu.weight`, String(Math.min(10_000, Math.max(1, Math.round(limits.cpuWeight)))));
      const max = limits.cpus === undefined ? 'max' : String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)));
      await this.fs.write(`${dir}/cpu.max`, `${max} ${CPU_PERIOD_US}`);
    }
  }

  wrap(sandboxId: string, argv: string[]): string[] {
    return ['/bin/sh', '-c', ENTER, 'sh', `${this.dir(sandboxId)}/cgroup.procs`, ...argv];
  }

  async hits(sandboxId: string): Promise<LimitHit[]> {
    const dir = this.dir(sandboxId);
    return cgroupHits(
      counter(await this.fs.read(`${dir}/memory.events`), 'oom_kill'),
      counter(await this.fs.read(`${dir}/pids.events`), 'max'),
      this.limits.get(sandboxId),
    );
  }

  async destroy(sandboxId: string): Promise<void> {
    this.limits.delete(sandboxId);
    const dir = this.dir(sandboxId);
    // cgroup.kill (Linux 5.14+) ends anything left, even processes that escaped their group.
    if (await this.fs.exists(`${dir}/cgroup.kill`)) await this.fs.write(`${dir}/cgroup.kill`, '1').catch(() => undefined);
    await rmdirWhenEmpty(this.fs, dir);
  }

  async dispose(): Promise<void> {
    await this.fs.rmdir(`${this.parent}/${this.slice}`).catch(() => undefined);
  }

  private wanted(): string[] {
    return ['memory', 'pids', ...(this.controllers.includes('cpu') ? ['cpu'] : [])];
  }

  private dir(sandboxId: string): string {
    return `${this.parent}/${this.slice}/${sandboxId}`;
  }
}
