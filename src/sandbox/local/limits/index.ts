/** Resource limits of local sandboxes: memory, processes, CPU share, disk. */
export { CgroupV1Limits } from './cgroup-v1.js';
export { CgroupV2Limits } from './cgroup-v2.js';
export { realCgroupFs, type CgroupFs } from './cgroupfs.js';
export { detectLimits, NoLimits, type DetectLimitsOpts, type DetectedLimits, type LimitPreference } from './detect.js';
export { LoopExt4Disk, WatchdogDisk, type DiskController, type DiskMechanism } from './disk.js';
export { RlimitLimits } from './rlimit.js';
export {
  DEFAULT_LIMITS,
  formatBytes,
  type LimitController,
  type LimitHit,
  type LimitMechanism,
  type LimitName,
  type SandboxLimits,
} from './types.js';
