import { E2BSandboxProvider } from '../sandbox/e2b/index.js';
import { LocalSandboxProvider } from '../sandbox/local/index.js';
import { detectLimits } from '../sandbox/local/limits/detect.js';
import { LoopExt4Disk } from '../sandbox/local/limits/disk.js';
import type { ProviderName, SandboxProvider } from '../sandbox/types.js';
import { localSandboxMounts, type WorkerConfig } from './config.js';
import type { SandboxSecurity } from './security.js';

const MIB = 1024 * 1024;

/**
 * Builds the sandbox providers this worker can offer, from its configuration and, for a
 * worker that runs agents, its security (proxies, limit and disk mechanisms). Without it (the
 * sweeper), the providers can still tear sandboxes down: limits are detected the same way.
 */
export async function buildProviders(
  config: WorkerConfig,
  security?: SandboxSecurity,
  e2bModelEndpoints: readonly string[] = [],
): Promise<Partial<Record<ProviderName, SandboxProvider>>> {
  const s = config.security;
  const limits =
    security?.limits ??
    (await detectLimits({ prefer: s.limits, cgroupParent: s.cgroupParent }).then(
      (d) => d.controller,
      () => undefined,
    ));
  return {
    local: new LocalSandboxProvider({
      rootDir: config.sandboxRoot,
      mounts: localSandboxMounts(),
      isolation: config.unsafeNoSandbox ? 'none' : 'bubblewrap',
      ...(limits !== undefined ? { limits } : {}),
      disk: security?.disk ?? new LoopExt4Disk(),
      ...(security !== undefined ? { network: security.localNetwork } : {}),
      defaultLimits: {
        memoryBytes: s.defaults.memoryMiB * MIB,
        processes: s.defaults.processes,
        diskBytes: s.defaults.diskMiB * MIB,
        ...(s.defaults.cpus !== undefined ? { cpus: s.defaults.cpus } : {}),
      },
    }),
    ...(config.e2b ? { e2b: new E2BSandboxProvider({ ...config.e2b, modelEndpoints: e2bModelEndpoints }) } : {}),
  };
}
