/**
 * Which limit mechanism this host allows, tried in order of strength: cgroup v2, cgroup v1
 * (memory + pids, cpu when mounted), rlimits under a uid per sandbox, nothing. Hosts differ
 * (a systemd machine with delegation, a container, this v1 VM), so each step says why it was
 * passed over, and the worker prints the outcome at start.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

import { realCgroupFs, ownGroupDir, parseMountinfo, parseProcCgroup, type CgroupFs } from './cgroupfs.js';
import { CgroupV1Limits } from './cgroup-v1.js';
import { CgroupV2Limits } from './cgroup-v2.js';
import { RlimitLimits } from './rlimit.js';
import type { LimitController, LimitMechanism, LimitHit, SandboxLimits } from './types.js';

export type LimitPreference = 'auto' | LimitMechanism;

export interface DetectLimitsOpts {
  /** @default 'auto' (the strongest that works) */
  prefer?: LimitPreference;
  /** A cgroup (v2) or, per hierarchy, the parent to create groups under instead of the worker's own. */
  cgroupParent?: string;
  fs?: CgroupFs;
  /** Contents of /proc/self/cgroup and /proc/self/mountinfo (tests give fakes). */
  procCgroup?: string;
  mountinfo?: string;
  /** @default process.pid */
  pid?: number;
  /** Whether this process may switch to another uid (rlimit needs it). @default uid 0 */
  canSetUid?: boolean;
}

export interface DetectedLimits {
  controller: LimitController;
  /** Why stronger mechanisms were passed over, e.g. `cgroup2: memory is not delegated here`. */
  passedOver: string[];
}

export async function detectLimits(o: DetectLimitsOpts): Promise<DetectedLimits> {
  const fs = o.fs ?? realCgroupFs;
  const procCgroup = parseProcCgroup(o.procCgroup ?? (await readFile('/proc/self/cgroup', 'utf8').catch(() => '')));
  const mounts = parseMountinfo(o.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')));
  const prefer = o.prefer ?? 'auto';
  const passedOver: string[] = [];
  const attempts: Array<[LimitMechanism, () => Promise<LimitController | string>]> = [
    ['cgroup2', () => tryV2(fs, procCgroup, mounts, o.cgroupParent, o.pid ?? process.pid)],
    ['cgroup1', () => tryV1(fs, procCgroup, mounts, o.cgroupParent)],
    ['rlimit', () => tryRlimit(o)],
  ];
  for (const [name, attempt] of attempts) {
    if (prefer !== 'auto' && prefer !== name) continue;
    const r = await attempt();
    if (typeof r !== 'string') return { controller: r, passedOver };
    if (prefer === name) throw new Error(`sandbox limits "${name}" were asked for but cannot be used here: ${r}`);
    passedOver.push(`${name}: ${r}`);
  }
  return { controller: new NoLimits(), passedOver };
}

async function tryV2(
  fs: CgroupFs,
  procCgroup: ReturnType<typeof parseProcCgroup>,
  mounts: ReturnType<typeof parseMountinfo>,
  override: string | undefined,
  pid: number,
): Promise<LimitController | string> {
  const mount = mounts.find((m) => m.fsType === 'cgroup2');
  const own = procCgroup.find((l) => l.id === '0' && l.controllers.length === 0);
  if (mount === undefined || own === undefined) return 'no cgroup2 hierarchy';
  const dir = override ?? ownGroupDir(mount, own.path);
  if (dir === undefined) return `this process's group ${own.path} is not visible under ${mount.mountPoint}`;
  const available = (await fs.read(`${dir}/cgroup.controllers`))?.trim().split(/\s+/) ?? [];
  if (!available.includes('memory') || !available.includes('pids')) {
    return `memory and pids are not available in ${dir} (available: ${available.join(' ') || 'none'}; on a v1 host they are bound to v1)`;
  }
  const want = ['memory', 'pids', ...(available.includes('cpu') ? ['cpu'] : [])];
  const enabled = (await fs.read(`${dir}/cgroup.subtree_control`))?.trim().split(/\s+/) ?? [];
  if (want.every((c) => enabled.includes(c))) return new CgroupV2Limits(dir, want, fs);
  if (override !== undefined) return `${dir} does not delegate ${want.join(', ')} to its children (cgroup.subtree_control)`;
  // A group with processes in it cannot enable controllers for children ("no internal
  // processes"). When the worker is alone in its group, it moves itself into a leaf first,
  // as container init processes do; with company there, it leaves things be.
  const members = ((await fs.read(`${dir}/cgroup.procs`)) ?? '').split('\n').filter(Boolean);
  if (members.some((p) => Number(p) !== pid)) {
    return `the worker shares its cgroup ${dir} with other processes, so it cannot enable controllers for sandboxes; run it in a delegated cgroup of its own (systemd: Delegate=yes) or set CCFLOW_CGROUP_PARENT`;
  }
  try {
    if (members.length > 0) {
      await fs.mkdir(`${dir}/ccflow-worker`);
      await fs.write(`${dir}/ccflow-worker/cgroup.procs`, String(pid));
    }
    await fs.write(`${dir}/cgroup.subtree_control`, want.map((c) => `+${c}`).join(' '));
  } catch (err) {
    return `could not enable ${want.join(', ')} in ${dir}: ${(err as Error).message}`;
  }
  return new CgroupV2Limits(dir, want, fs);
}

async function tryV1(
  fs: CgroupFs,
  procCgroup: ReturnType<typeof parseProcCgroup>,
  mounts: ReturnType<typeof parseMountinfo>,
  override: string | undefined,
): Promise<LimitController | string> {
  const parentOf = (controller: string): string | undefined => {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.controllers.includes(controller));
    const own = procCgroup.find((l) => l.controllers.includes(controller));
    if (mount === undefined || own === undefined) return undefined;
    const dir = ownGroupDir(mount, own.path);
    return dir === undefined ? undefined : override === undefined ? dir : `${mount.mountPoint}${override}`;
  };
  const memory = parentOf('memory');
  const pids = parentOf('pids');
  if (memory === undefined || pids === undefined) return 'no v1 memory and pids hierarchies';
  const cpu = parentOf('cpu');
  // Probe: a group made, limited and removed again.
  const probe = `probe-${process.pid}`;
  try {
    for (const parent of [memory, pids]) {
      await fs.mkdir(`${parent}/ccflow`);
      await fs.mkdir(`${parent}/ccflow/${probe}`);
    }
    await fs.write(`${memory}/ccflow/${probe}/memory.limit_in_bytes`, String(64 << 20));
    await fs.write(`${pids}/ccflow/${probe}/pids.max`, '16');
  } catch (err) {
    return `cannot create groups under ${memory} and ${pids}: ${(err as Error).message}`;
  } finally {
    for (const parent of [memory, pids]) await fs.rmdir(`${parent}/ccflow/${probe}`).catch(() => undefined);
  }
  return new CgroupV1Limits({ memory, pids, ...(cpu === undefined ? {} : { cpu }) }, fs);
}

async function tryRlimit(o: DetectLimitsOpts): Promise<LimitController | string> {
  const root = o.canSetUid ?? process.getuid?.() === 0;
  if (!root) return 'the worker cannot switch sandboxes to a uid of their own (it is not root)';
  for (const tool of ['setpriv', 'prlimit']) {
    const ok = await new Promise<boolean>((resolve) => execFile(tool, ['--version'], (err) => resolve(err === null)));
    if (!ok) return `${tool} (util-linux) is not installed`;
  }
  return new RlimitLimits();
}

/** No mechanism: limits are not enforced, and the worker says so at start. */
export class NoLimits implements LimitController {
  readonly mechanism = 'none' as const;
  describe(): string {
    return 'NONE: memory, processes and CPU are not limited on this host';
  }
  async create(_sandboxId: string, _limits: SandboxLimits): Promise<void> {}
  wrap(_sandboxId: string, argv: string[]): string[] {
    return argv;
  }
  async hits(_sandboxId: string): Promise<LimitHit[]> {
    return [];
  }
  async destroy(_sandboxId: string): Promise<void> {}
  async dispose(): Promise<void> {}
}
