/**
 * Seed 002's permission model in ccflow's terms. The seed's host lets Claude Code ask (through
 * the SDK's permission callback, then a §7 query) for every tool call that its permission mode
 * and `allowed_tools` do not already allow. ccflow holds calls with approval rules instead: a
 * matching call ends the agent's run, the task waits durably for an answer, and the answer
 * resumes it. So a session that would ask gets rules for the tools that would ask, and those
 * tools are allowed to run once a person said yes.
 */
import type { SeedPermissionMode } from './controller-requests.js';

/**
 * The tools Claude Code asks about when they are not allowed up front. The read-only ones (Read,
 * Glob, Grep, LS) and the bookkeeping ones (TodoWrite, Task) never ask in the workspace.
 */
export const ASKING_TOOLS = ['Bash', 'Edit', 'MultiEdit', 'NotebookEdit', 'Write', 'WebFetch', 'WebSearch'] as const;
/** What `acceptEdits` lets through without asking. */
const EDIT_TOOLS = new Set(['Edit', 'MultiEdit', 'NotebookEdit', 'Write']);
/** Modes in which Claude Code never asks: anything not allowed is denied, or everything runs. */
const SILENT_MODES = new Set<SeedPermissionMode>(['dontAsk', 'bypassPermissions']);

export interface SessionPermissions {
  /** The task's `allowedTools`: the session's, plus every tool a rule holds (so an allowed call can run). */
  allowedTools: string[];
  /** The task's `approval.tools`; empty: nothing is asked. */
  rules: string[];
}

/**
 * What a session's task is told: which calls wait for a person, and which tools may run.
 * `askTools` (ccflow's spawn extension `ask_tools`) adds rules in Claude Code's rule syntax
 * (`Bash(git push:*)`); they hold calls whatever the mode, of allowed tools too.
 */
export function sessionPermissions(s: {
  allowedTools: string[];
  permissionMode: SeedPermissionMode;
  askTools?: string[];
}): SessionPermissions {
  // Only a bare name allows a tool as a whole: with `Bash(ls:*)` allowed, other commands still ask.
  const allowed = new Set(s.allowedTools.filter((t) => !t.includes('(')));
  const fromMode = SILENT_MODES.has(s.permissionMode)
    ? []
    : ASKING_TOOLS.filter((t) => !allowed.has(t) && !(s.permissionMode === 'acceptEdits' && EDIT_TOOLS.has(t)));
  const rules = [...new Set([...fromMode, ...(s.askTools ?? [])])];
  const allowedTools = [...new Set([...s.allowedTools, ...fromMode, ...(s.permissionMode === 'acceptEdits' ? [...EDIT_TOOLS] : [])])];
  return { allowedTools, rules };
}
