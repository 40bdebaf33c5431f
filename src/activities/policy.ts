import { policyKind, policyWithin, type EgressPolicy } from '../domain/network.js';
import type { SandboxLimitsRequest } from '../sandbox/types.js';
import type { SandboxLimitsSpec } from '../schemas/task-spec.js';
import type { SandboxPolicy } from './deps.js';
import { applicationFailure } from './failures.js';

const MIB = 1024 * 1024;

/** A worker's sandbox policy when nothing is configured (see the README's table). */
export const DEFAULT_SANDBOX_POLICY: SandboxPolicy = {
  networkMax: 'open',
  defaults: { memoryMiB: 4096, processes: 512, diskMiB: 10_240 },
  caps: { memoryMiB: 16_384, processes: 4096, diskMiB: 102_400 },
};

/**
 * What a task asks of its sandbox (network, limits) against what this worker allows: one
 * message per problem, each naming the field and the setting that caps it.
 */
export function sandboxRequestProblems(
  spec: { network?: EgressPolicy | undefined; limits?: SandboxLimitsSpec | undefined },
  policy: SandboxPolicy,
): string[] {
  const problems: string[] = [];
  if (spec.network !== undefined && !policyWithin(spec.network, policy.networkMax)) {
    problems.push(`network: "${policyKind(spec.network)}" is more than this worker allows (CCFLOW_NETWORK_MAX=${policy.networkMax})`);
  }
  const l = spec.limits ?? {};
  const caps: Array<[keyof SandboxLimitsSpec, number | undefined, string, string]> = [
    ['memoryMiB', policy.caps.memoryMiB, 'CCFLOW_SANDBOX_MAX_MEMORY_MIB', ' MiB'],
    ['processes', policy.caps.processes, 'CCFLOW_SANDBOX_MAX_PROCESSES', ''],
    ['diskMiB', policy.caps.diskMiB, 'CCFLOW_SANDBOX_MAX_DISK_MIB', ' MiB'],
    ['cpus', policy.caps.cpus, 'CCFLOW_SANDBOX_MAX_CPUS', ' cores'],
  ];
  for (const [field, cap, setting, unit] of caps) {
    const v = l[field];
    if (v !== undefined && cap !== undefined && v > cap)
      problems.push(`limits.${field}: ${v} is over this worker's cap of ${cap}${unit} (${setting})`);
  }
  return problems;
}

/** The network and limits a sandbox is made with; InvalidTaskSpec when the task asks for more than allowed. */
export function resolveSandboxRequest(
  spec: { network?: EgressPolicy | undefined; limits?: SandboxLimitsSpec | undefined },
  policy: SandboxPolicy,
): { network: EgressPolicy; limits: SandboxLimitsRequest } {
  const problems = sandboxRequestProblems(spec, policy);
  if (problems.length > 0) throw applicationFailure('InvalidTaskSpec', problems.join('; '));
  const l = spec.limits ?? {};
  const cpus = l.cpus ?? policy.defaults.cpus;
  return {
    network: spec.network ?? 'model',
    limits: {
      memoryBytes: (l.memoryMiB ?? policy.defaults.memoryMiB) * MIB,
      processes: l.processes ?? policy.defaults.processes,
      diskBytes: (l.diskMiB ?? policy.defaults.diskMiB) * MIB,
      ...(cpus !== undefined ? { cpus } : {}),
    },
  };
}
