/**
 * Resource limits of a local sandbox: what they are, which mechanism enforces them on this
 * host, and how a mechanism reports that a sandbox ran into one.
 */
import type { LimitHit } from '../../types.js';

export type { LimitHit, LimitName } from '../../types.js';

export interface SandboxLimits {
  /** Memory of all the sandbox's processes together (cgroups) or of each process (rlimit). */
  memoryBytes: number;
  /** Processes (and threads) at once. */
  processes: number;
  /** CPU time as a share against other sandboxes: 1-10000, 100 is an equal share (cgroup v2 weight). */
  cpuWeight: number;
  /** Hard CPU cap in cores (e.g. 1.5); no cap when absent. */
  cpus?: number;
}

/** 4 GiB, 512 processes, an equal CPU share, no CPU cap. */
export const DEFAULT_LIMITS: SandboxLimits = { memoryBytes: 4 * 1024 ** 3, processes: 512, cpuWeight: 100 };

export type LimitMechanism = 'cgroup2' | 'cgroup1' | 'rlimit' | 'none';

/**
 * One sandbox's limits under one mechanism. Each process of the sandbox is started through
 * `wrap`, which puts it under the limits before it runs anything.
 */
export interface LimitController {
  readonly mechanism: LimitMechanism;
  /** One line for the worker's start message: mechanism and what it covers. */
  describe(): string;
  /**
   * Sets a sandbox's limits up (idempotent: a worker restart may call it again). `uid` is the
   * host uid the sandbox runs as, for mechanisms that need one (rlimit).
   */
  create(sandboxId: string, limits: SandboxLimits, ctx?: { uid?: number }): Promise<void>;
  /** The argv that runs `argv` under the sandbox's limits. */
  wrap(sandboxId: string, argv: string[]): string[];
  /** Limits the sandbox ran into since create(); empty when none. */
  hits(sandboxId: string): Promise<LimitHit[]>;
  /** Removes what create() made. Its processes must be gone already. */
  destroy(sandboxId: string): Promise<void>;
  /** Removes the (empty) group that held the sandboxes, at shutdown; quiet if still in use. */
  dispose(): Promise<void>;
}

/** `4 GiB`, `512 MiB`: for messages. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && Number.isInteger(v / 1024)) {
    v /= 1024;
    i += 1;
  }
  return `${v} ${units[i]}`;
}
