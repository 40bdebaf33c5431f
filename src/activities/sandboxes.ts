import type { ProviderName } from '../domain/constants.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import { applicationFailure, translated } from './failures.js';

/** The providers a worker has, looked up by name; the one place that says "not configured here". */
export interface SandboxAccess {
  provider(name: ProviderName): SandboxProvider;
  /** Reattaches to a sandbox; a sandbox that is gone is `SandboxLost`. */
  connect(name: ProviderName, sandboxId: string): Promise<Sandbox>;
}

export function createSandboxAccess(providers: Partial<Record<ProviderName, SandboxProvider>>): SandboxAccess {
  const provider = (name: ProviderName): SandboxProvider => {
    const p = providers[name];
    if (p) return p;
    const configured = Object.keys(providers).join(', ') || 'none';
    const hint = name === 'e2b' ? '; set E2B_API_KEY on the worker to run tasks in E2B sandboxes' : '';
    throw applicationFailure(
      'ProviderUnavailable',
      `sandbox provider "${name}" is not configured on this worker (configured: ${configured})${hint}`,
    );
  };
  return {
    provider,
    connect: (name, sandboxId) => translated(() => provider(name).connect(sandboxId)),
  };
}
