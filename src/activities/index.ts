import { DEFAULT_RUN_TIMING, type RunTiming } from '../claude/runner.js';
import { createAttachmentActivities } from './attachments.js';
import { createGitActivities } from './git.js';
import { AgentSlots } from './agent-slots.js';
import { DEFAULT_MAX_CONCURRENT_AGENTS, type ActivityDeps } from './deps.js';
import { createLifecycleActivities } from './lifecycle.js';
import { createResultActivities } from './result.js';
import { createRunClaudeActivity } from './run-claude.js';
import { createSandboxAccess } from './sandboxes.js';
import { createSessionActivities } from './sessions.js';
import { createValidationActivities } from './validate.js';

export type { ActivityDeps } from './deps.js';
export type { GitDeps } from './git.js';

/**
 * Every activity the workflows call, built from injected dependencies (the worker passes the
 * real ones, tests pass their own). Activities are thin: they connect to the sandbox, call the
 * Temporal-free code below them (claude runner, providers, artifact store) and turn its errors
 * into failures typed by the failure table.
 */
export const createActivities = (deps: ActivityDeps) => {
  const timing: RunTiming = { ...DEFAULT_RUN_TIMING, ...deps.timing };
  const sandboxes = createSandboxAccess(deps.providers);
  const slots = new AgentSlots(deps.maxConcurrentAgents ?? DEFAULT_MAX_CONCURRENT_AGENTS);
  return {
    ...createValidationActivities(deps.sandboxPolicy),
    ...createLifecycleActivities(deps, sandboxes),
    ...createRunClaudeActivity(deps, sandboxes, timing, slots),
    ...createResultActivities(sandboxes),
    ...createAttachmentActivities(sandboxes),
    ...createSessionActivities({ sandboxes, providers: deps.providers, artifacts: deps.artifacts, pollIntervalMs: timing.pollIntervalMs }),
    ...createGitActivities({ sandboxes, artifacts: deps.artifacts, git: deps.git, pollIntervalMs: timing.pollIntervalMs }),
  };
};

export type Activities = ReturnType<typeof createActivities>;
