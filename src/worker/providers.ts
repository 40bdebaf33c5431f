import { E2BSandboxProvider } from '../sandbox/e2b/index.js';
import { LocalSandboxProvider } from '../sandbox/local/index.js';
import type { ProviderName, SandboxProvider } from '../sandbox/types.js';
import { localSandboxMounts, type WorkerConfig } from './config.js';

/** Builds the sandbox providers this worker can offer, from its configuration. */
export function buildProviders(config: WorkerConfig): Partial<Record<ProviderName, SandboxProvider>> {
  return {
    local: new LocalSandboxProvider({
      rootDir: config.sandboxRoot,
      mounts: localSandboxMounts(),
      isolation: config.unsafeNoSandbox ? 'none' : 'bubblewrap',
    }),
    ...(config.e2b ? { e2b: new E2BSandboxProvider(config.e2b) } : {}),
  };
}
